//! `gator verify`: test Suites (`test.gatekeeper.sh/v1alpha1`, kind `Suite`) run against the
//! engine, with gator's semantics: each test instantiates a template and a constraint (paths
//! relative to the suite file), each case reviews one object (or an AdmissionReview's
//! request) with an optional inventory, and every assertion must hold (`violations: yes`
//! (the default), `no` or a count, of the violations whose message matches `message`, a
//! regular expression, when it is set).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::Value;

use super::review::{Inventory, Review};
use super::{LoadProblem, PolicySet};

const SUITE_GROUP: &str = "test.gatekeeper.sh";

/// Everything `policy verify` ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub suites: Vec<SuiteResult>,
    pub totals: Totals,
}

/// Counts per level: what ran, passed, failed, and was skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub run: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub suites: Counts,
    pub tests: Counts,
    pub cases: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    /// The suite file, as found under the directory given.
    pub path: PathBuf,
    pub name: String,
    pub skipped: bool,
    /// Why the suite could not run at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub tests: Vec<TestResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub name: String,
    pub skipped: bool,
    /// Why the test failed as a whole (its template or constraint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cases: Vec<CaseResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub skipped: bool,
    /// Why the case failed; none when it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The violation messages the review produced.
    pub violations: Vec<String>,
}

impl TestResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.cases.iter().all(|c| c.error.is_none())
    }
}

impl SuiteResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.tests.iter().all(TestResult::passed)
    }
}

impl Report {
    pub fn ok(&self) -> bool {
        self.suites.iter().all(SuiteResult::passed)
    }

    fn count(&mut self) {
        let mut t = Totals::default();
        let tally = |c: &mut Counts, skipped: bool, passed: bool| {
            if skipped {
                c.skipped += 1;
            } else {
                c.run += 1;
                if passed {
                    c.passed += 1;
                } else {
                    c.failed += 1;
                }
            }
        };
        for s in &self.suites {
            tally(&mut t.suites, s.skipped, s.passed());
            for test in &s.tests {
                tally(&mut t.tests, test.skipped, test.passed());
                for c in &test.cases {
                    tally(&mut t.cases, c.skipped, c.error.is_none());
                }
            }
        }
        self.totals = t;
    }
}

/// gator's `--run` filter: `TEST//CASE` (both regular expressions, both must match), or one
/// expression that selects tests and cases whose name matches it.
#[derive(Debug, Clone)]
pub enum Filter {
    All,
    Or(String),
    And(String, String),
}

impl Filter {
    pub fn parse(run: Option<&str>) -> Result<Filter, String> {
        let Some(run) = run.filter(|r| !r.is_empty()) else {
            return Ok(Filter::All);
        };
        let parts: Vec<&str> = run.split("//").collect();
        let check = |re: &str| {
            regex_match(re, "")
                .map(|_| re.to_string())
                .map_err(|e| format!("invalid --run filter: {e}"))
        };
        match parts.as_slice() {
            [one] => Ok(Filter::Or(check(one)?)),
            [test, case] => Ok(Filter::And(check(test)?, check(case)?)),
            _ => Err(r#"invalid --run filter: a filter may include at most one "//""#.into()),
        }
    }

    fn is(re: &str, s: &str) -> bool {
        regex_match(re, s).unwrap_or(false)
    }

    fn matches_test(&self, test: &str, cases: &[String]) -> bool {
        match self {
            Filter::All => true,
            Filter::Or(re) => {
                Filter::is(re, test) || cases.iter().any(|c| self.matches_case(test, c))
            }
            Filter::And(t, _) => Filter::is(t, test),
        }
    }

    fn matches_case(&self, test: &str, case: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Or(re) => Filter::is(re, case) || Filter::is(re, test),
            Filter::And(t, c) => Filter::is(c, case) && Filter::is(t, test),
        }
    }
}

/// A regular expression match (RE2 syntax, as Go's regexp), through regorus' `regex.match`:
/// the crate needs no regex dependency of its own.
pub(crate) fn regex_match(pattern: &str, text: &str) -> Result<bool, String> {
    static ENGINE: OnceLock<Result<regorus::Engine, String>> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let mut e = regorus::Engine::new();
        e.set_rego_v0(true);
        e.add_policy(
            "regex.rego".into(),
            "package akebot.regex\nmatched := regex.match(input.pattern, input.text)\n".into(),
        )
        .map_err(|e| e.to_string())?;
        Ok(e)
    });
    let mut engine = engine.clone()?;
    engine.set_strict_builtin_errors(true);
    engine.set_input(regorus::Value::from(
        serde_json::json!({"pattern": pattern, "text": text}),
    ));
    let v = engine
        .eval_rule("data.akebot.regex.matched".into())
        .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))?;
    match v {
        regorus::Value::Bool(b) => Ok(b),
        _ => Err(format!("invalid regular expression {pattern:?}")),
    }
}

/// Run every Suite found under `dirs` (files too), in path order. Err when nothing can run.
pub fn verify(dirs: &[PathBuf], filter: &Filter) -> Result<Report, String> {
    let mut files = Vec::new();
    for d in dirs {
        if d.is_file() {
            files.push(d.clone());
        } else if d.is_dir() {
            walk(d, &mut files).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        } else {
            return Err(format!("{} does not exist", d.display()));
        }
    }
    files.sort();
    files.dedup();
    let mut report = Report::default();
    for file in files {
        if let Some(suite) = read_suite(&file) {
            report.suites.push(run_suite(&file, suite, filter));
        }
    }
    if report.suites.is_empty() {
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(format!(
            "no Suite ({SUITE_GROUP}/v1alpha1) under {}",
            dirs.join(", ")
        ));
    }
    report.count();
    Ok(report)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

/// The file's suite, or why it is one that cannot be read; None for other files.
fn read_suite(file: &Path) -> Option<Result<Value, String>> {
    let text = std::fs::read_to_string(file).ok()?;
    match crate::yaml::documents(&text) {
        Ok(docs) => {
            let doc = docs.into_iter().find(|d| !d.is_null())?;
            let is_suite = doc.get("kind").and_then(Value::as_str) == Some("Suite")
                && super::api_group(&doc) == SUITE_GROUP;
            is_suite.then_some(Ok(doc))
        }
        // A file that does not parse is a suite's problem only when it says it is one.
        Err(e) => text
            .contains(SUITE_GROUP)
            .then(|| Err(format!("invalid YAML: {e}"))),
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn run_suite(file: &Path, suite: Result<Value, String>, filter: &Filter) -> SuiteResult {
    let mut result = SuiteResult {
        path: file.to_path_buf(),
        name: String::new(),
        skipped: false,
        error: None,
        tests: Vec::new(),
    };
    let suite = match suite {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    result.name = suite
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if flag(&suite, "skip") {
        result.skipped = true;
        return result;
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    for test in suite
        .get("tests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        result.tests.push(run_test(dir, test, filter));
    }
    result
}

fn case_names(test: &Value) -> Vec<String> {
    test.get("cases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| str_of(c, "name").to_string())
        .collect()
}

fn run_test(dir: &Path, test: &Value, filter: &Filter) -> TestResult {
    let name = str_of(test, "name").to_string();
    let mut result = TestResult {
        name: name.clone(),
        skipped: false,
        error: None,
        cases: Vec::new(),
    };
    if flag(test, "skip") || !filter.matches_test(&name, &case_names(test)) {
        result.skipped = true;
        return result;
    }
    let set = match instantiate(dir, test) {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    for case in test
        .get("cases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let case_name = str_of(case, "name").to_string();
        if flag(case, "skip") || !filter.matches_case(&name, &case_name) {
            result.cases.push(CaseResult {
                name: case_name,
                skipped: true,
                error: None,
                violations: Vec::new(),
            });
            continue;
        }
        let (violations, error) = match run_case(dir, &set, case) {
            Ok(v) => v,
            Err(e) => (Vec::new(), Some(e)),
        };
        result.cases.push(CaseResult {
            name: case_name,
            skipped: false,
            error,
            violations,
        });
    }
    result
}

/// The test's template and constraint, loaded and checked.
fn instantiate(dir: &Path, test: &Value) -> Result<PolicySet, String> {
    if !str_of(test, "expansion").is_empty() {
        return Err("expansion (ExpansionTemplates) is not supported".into());
    }
    let template = str_of(test, "template");
    if template.is_empty() {
        return Err("invalid suite: missing template".into());
    }
    let constraint = str_of(test, "constraint");
    if constraint.is_empty() {
        return Err("invalid suite: missing constraint".into());
    }
    let read = |rel: &str| {
        let path = dir.join(rel);
        std::fs::read_to_string(&path)
            .map(|text| (path.clone(), text))
            .map_err(|e| format!("reading {}: {e}", path.display()))
    };
    let files = [read(template)?, read(constraint)?];
    let (set, problems) = PolicySet::load(&files);
    if !problems.is_empty() {
        // A template that does not load leaves its constraint without one: say the cause.
        let template_path = dir.join(template);
        let cause: Vec<&LoadProblem> = problems
            .iter()
            .filter(|p| p.file == template_path)
            .collect();
        let shown = if cause.is_empty() {
            problems.iter().collect()
        } else {
            cause
        };
        let p: Vec<String> = shown.iter().map(|p| p.to_string()).collect();
        return Err(p.join("; "));
    }
    let infos = set.constraints();
    let [info] = infos.as_slice() else {
        return Err(format!(
            "{} defines {} constraints, want 1",
            dir.join(constraint).display(),
            infos.len()
        ));
    };
    if set.templates.len() != 1 {
        return Err(format!(
            "{} defines {} ConstraintTemplates, want 1",
            dir.join(template).display(),
            set.templates.len()
        ));
    }
    if let Some(why) = &info.not_evaluated {
        return Err(format!("template {} not evaluated: {why}", info.template));
    }
    if flag(test, "invalid") {
        return Err(
            "invalid: true expects the constraint to fail its template's parameter schema; \
             schema validation of constraints is not supported"
                .into(),
        );
    }
    Ok(set)
}

/// The case's violations, and why it failed (None: passed).
fn run_case(
    dir: &Path,
    set: &PolicySet,
    case: &Value,
) -> Result<(Vec<String>, Option<String>), String> {
    let object = str_of(case, "object");
    if object.is_empty() {
        return Err("invalid case: must define object".into());
    }
    let assertions = case
        .get("assertions")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or("invalid case: assertions must be non-empty")?;
    let path = dir.join(object);
    let objects = read_objects(&path)?;
    let [object] = objects.as_slice() else {
        return Err(format!(
            "{} defines {} objects, want 1",
            path.display(),
            objects.len()
        ));
    };
    let mut inventory = Inventory::default();
    for rel in case
        .get("inventory")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rel = rel.as_str().ok_or("inventory: not a path")?;
        for o in read_objects(&dir.join(rel))? {
            inventory.add(&o);
        }
    }
    let review = if str_of(object, "kind") == "AdmissionReview"
        && super::api_group(object) == "admission.k8s.io"
    {
        Review::of_admission_review(object)?
    } else {
        Review::of_object(object)?
    };
    let constraint = &set.constraints[0];
    let violations = set.review(constraint, &review, &inventory)?;
    for a in assertions {
        if let Err(e) = assert(a, &violations) {
            return Ok((violations, Some(e)));
        }
    }
    Ok((violations, None))
}

/// The non-empty documents of a file.
fn read_objects(path: &Path) -> Result<Vec<Value>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let docs = crate::yaml::documents(&text)
        .map_err(|e| format!("reading {}: invalid YAML: {e}", path.display()))?;
    let objects: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    if objects.is_empty() {
        return Err(format!("path {} defines no YAML objects", path.display()));
    }
    Ok(objects)
}

/// One assertion, with gator's rules and messages.
fn assert(a: &Value, violations: &[String]) -> Result<(), String> {
    let message = match a.get("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.as_str()),
        Some(other) => return Err(format!("assertion.message {other} is not a string")),
    };
    let mut matching = 0usize;
    for v in violations {
        let m = match message {
            None => true,
            Some(re) => regex_match(re, v)?,
        };
        if m {
            matching += 1;
        }
    }
    let invalid =
        || r#"assertion.violation, if set, must be a nonnegative integer, "yes", or "no""#.into();
    let containing = message.map_or(String::new(), |m| format!(" containing {m:?}"));
    let got = format!("got {matching} violations{containing}");
    let err = match a.get("violations") {
        None | Some(Value::Null) => (matching == 0).then(|| format!("{got} but want at least 1")),
        Some(Value::String(s)) if s == "yes" => {
            (matching == 0).then(|| format!("{got} but want at least 1"))
        }
        Some(Value::String(s)) if s == "no" => {
            (matching > 0).then(|| format!("{got} but want none"))
        }
        Some(Value::Number(n)) => {
            let want = n.as_u64().ok_or_else(invalid)?;
            (matching as u64 != want).then(|| format!("{got} but want exactly {want}"))
        }
        Some(_) => return Err(invalid()),
    };
    match err {
        None => Ok(()),
        Some(e) => Err(format!(
            "unexpected number of violations: {e}: got messages {violations:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assertions_follow_gator() {
        let v = vec!["must have owner".to_string(), "bad image".to_string()];
        assert!(assert(&json!({}), &v).is_ok());
        assert!(assert(&json!({}), &[]).is_err());
        assert!(assert(&json!({"violations": "yes"}), &v).is_ok());
        assert!(assert(&json!({"violations": "no"}), &[]).is_ok());
        assert!(assert(&json!({"violations": "no"}), &v).is_err());
        assert!(assert(&json!({"violations": 2}), &v).is_ok());
        assert!(assert(&json!({"violations": 1}), &v).is_err());
        assert!(assert(&json!({"violations": 1, "message": "owner"}), &v).is_ok());
        assert!(assert(&json!({"violations": "no", "message": "^image"}), &v).is_ok());
        assert!(assert(&json!({"violations": "maybe"}), &v).is_err());
        assert!(assert(&json!({"violations": -1}), &v).is_err());
        let e = assert(&json!({"violations": 0, "message": "image"}), &v).unwrap_err();
        assert!(
            e.contains(r#"got 1 violations containing "image" but want exactly 0"#),
            "{e}"
        );
    }

    #[test]
    fn run_filters_follow_gator() {
        let f = Filter::parse(Some("owner")).unwrap();
        assert!(f.matches_case("must-have-owner", "anything"));
        assert!(f.matches_case("t", "no-owner"));
        assert!(!f.matches_case("t", "c"));
        assert!(f.matches_test("t", &["no-owner".into()]));
        let f = Filter::parse(Some("^t$//^c")).unwrap();
        assert!(f.matches_case("t", "case") && !f.matches_case("tt", "case"));
        assert!(!f.matches_case("t", "xc"));
        assert!(Filter::parse(Some("a//b//c")).is_err());
        assert!(Filter::parse(Some("(")).is_err());
    }
}
