//! The RBAC call-outs of the manifest diff. Roles are compared permission by permission (one
//! per API group, resource, object name and verb, or per URL and verb), so a rule that gains a
//! verb reads as that verb and not as a rule swapped out. A ClusterRole built by an
//! `aggregationRule` is compared by what the cluster's aggregation controller gives it, and a
//! ClusterRole labelled to aggregate into the built-in `admin`, `edit` or `view` role says what
//! that changes for everyone bound to those.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Object, ObjectRef, RbacChange};

type Objects<'a> = BTreeMap<&'a ObjectRef, &'a Object>;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// One thing a role allows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Permission {
    /// `name` is `None` for any object of the resource (the rule lists no `resourceNames`).
    Resource {
        group: String,
        resource: String,
        name: Option<String>,
        verb: String,
    },
    NonResource {
        url: String,
        verb: String,
    },
}

/// The ClusterRoles a permission was aggregated from; empty when it comes from the role's own
/// rules.
type Via = BTreeSet<String>;

/// What a role grants: each permission and where it comes from.
type Grants = BTreeMap<Permission, Via>;

/// The cluster's built-in roles that take in ClusterRoles by label, in alphabetical order, which
/// is also most powerful first.
const BUILT_IN: [&str; 3] = ["admin", "edit", "view"];

fn is_role(k: &ObjectRef) -> bool {
    k.group == RBAC_GROUP && (k.kind == "Role" || k.kind == "ClusterRole")
}

fn is_cluster_role(k: &ObjectRef) -> bool {
    k.group == RBAC_GROUP && k.kind == "ClusterRole"
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The permissions `rules` grant: each rule is the cross product of its lists. A rule missing
/// `apiGroups` or `verbs` matches no request, so it grants nothing.
fn permissions(rules: Option<&Value>) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for rule in rules.and_then(Value::as_array).into_iter().flatten() {
        let verbs = strings(rule, "verbs");
        let names: Vec<Option<String>> = match strings(rule, "resourceNames") {
            names if names.is_empty() => vec![None],
            names => names.into_iter().map(Some).collect(),
        };
        for group in strings(rule, "apiGroups") {
            for resource in strings(rule, "resources") {
                for name in &names {
                    for verb in &verbs {
                        out.insert(Permission::Resource {
                            group: group.clone(),
                            resource: resource.clone(),
                            name: name.clone(),
                            verb: verb.clone(),
                        });
                    }
                }
            }
        }
        for url in strings(rule, "nonResourceURLs") {
            for verb in &verbs {
                out.insert(Permission::NonResource {
                    url: url.clone(),
                    verb: verb.clone(),
                });
            }
        }
    }
    out
}

fn labels(o: &Object) -> BTreeMap<&str, &str> {
    o.value
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect()
}

/// The `clusterRoleSelectors` of an aggregated ClusterRole, `None` for any other role. An
/// `aggregationRule` without selectors still makes the role aggregated (and empty).
fn aggregation_selectors(o: &Object) -> Option<&[Value]> {
    if !is_cluster_role(&o.key) {
        return None;
    }
    let rule = o.value.get("aggregationRule")?.as_object()?;
    Some(
        rule.get("clusterRoleSelectors")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
    )
}

/// Whether a label selector matches `labels`: every `matchLabels` pair and every expression.
/// A selector the API server would reject (unknown operator, values where none belong) matches
/// nothing here.
fn selector_matches(selector: &Value, labels: &BTreeMap<&str, &str>) -> bool {
    let Some(selector) = selector.as_object() else {
        return false;
    };
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    for (k, v) in match_labels.into_iter().flatten() {
        if labels.get(k.as_str()).copied() != v.as_str() {
            return false;
        }
    }
    let expressions = selector.get("matchExpressions").and_then(Value::as_array);
    for e in expressions.into_iter().flatten() {
        let have = e
            .get("key")
            .and_then(Value::as_str)
            .and_then(|k| labels.get(k).copied());
        let values = strings(e, "values");
        let listed = |v: &str| values.iter().any(|x| x == v);
        let ok = match e.get("operator").and_then(Value::as_str) {
            Some("In") => !values.is_empty() && have.is_some_and(listed),
            Some("NotIn") => !values.is_empty() && have.is_none_or(|v| !listed(v)),
            Some("Exists") => values.is_empty() && have.is_some(),
            Some("DoesNotExist") => values.is_empty() && have.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// What each Role and ClusterRole of one side grants once applied. An aggregated ClusterRole
/// gets the rules of every other ClusterRole any of its selectors match, the way the
/// aggregation controller builds them: its own `rules` are replaced, and aggregated roles
/// feeding aggregated roles pass on what they collected. Only ClusterRoles in these manifests
/// are known; ones already in the cluster may match as well.
fn effective(objects: &Objects) -> BTreeMap<ObjectRef, Grants> {
    let cluster_roles: Vec<&Object> = objects
        .values()
        .copied()
        .filter(|o| is_cluster_role(&o.key))
        .collect();
    let mut out: BTreeMap<ObjectRef, Grants> = BTreeMap::new();
    let mut sources: Vec<(ObjectRef, Vec<ObjectRef>)> = Vec::new();
    for o in objects.values().filter(|o| is_role(&o.key)) {
        let grants = match aggregation_selectors(o) {
            Some(selectors) => {
                let matched = cluster_roles
                    .iter()
                    // The controller never aggregates a role into itself.
                    .filter(|c| c.key != o.key)
                    .filter(|c| {
                        let l = labels(c);
                        selectors.iter().any(|s| selector_matches(s, &l))
                    })
                    .map(|c| c.key.clone())
                    .collect();
                sources.push((o.key.clone(), matched));
                Grants::new()
            }
            None => permissions(o.value.get("rules"))
                .into_iter()
                .map(|p| (p, BTreeSet::new()))
                .collect(),
        };
        out.insert(o.key.clone(), grants);
    }
    // Aggregated roles can feed each other: pass grants on until nothing new arrives. Grants
    // only grow, so this ends, cycles included.
    loop {
        let mut arrived = Vec::new();
        for (target, from) in &sources {
            let have = out.get(target);
            for source in from {
                for p in out.get(source).into_iter().flat_map(BTreeMap::keys) {
                    let known = have
                        .and_then(|g| g.get(p))
                        .is_some_and(|via| via.contains(&source.name));
                    if !known {
                        arrived.push((target.clone(), p.clone(), source.name.clone()));
                    }
                }
            }
        }
        if arrived.is_empty() {
            break;
        }
        for (target, p, source) in arrived {
            out.entry(target)
                .or_default()
                .entry(p)
                .or_default()
                .insert(source);
        }
    }
    out
}

/// The built-in roles a ClusterRole's labels put it in directly.
fn built_in_direct(o: &Object) -> BTreeSet<&'static str> {
    if !is_cluster_role(&o.key) {
        return BTreeSet::new();
    }
    let l = labels(o);
    BUILT_IN
        .into_iter()
        .filter(|b| {
            l.get(format!("{RBAC_GROUP}/aggregate-to-{b}").as_str())
                .is_some_and(|v| *v == "true")
        })
        .collect()
}

/// The built-in roles that end up with `direct`'s permissions: Kubernetes labels `view` to
/// aggregate into `edit`, and `edit` into `admin`.
fn built_in_reached(direct: &BTreeSet<&'static str>) -> BTreeSet<&'static str> {
    let mut out = direct.clone();
    if out.contains("view") {
        out.insert("edit");
    }
    if out.contains("edit") {
        out.insert("admin");
    }
    out
}

fn listed(items: &[&str], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
    }
}

/// `the cluster's built-in view role, and so edit and admin, which include it`: `roles`, and
/// for those only reached through others, how.
fn built_in_phrase(roles: &[&'static str], direct: &BTreeSet<&'static str>) -> String {
    let (d, i): (Vec<&str>, Vec<&str>) = roles.iter().copied().partition(|r| direct.contains(r));
    let noun = |v: &[&str]| if v.len() == 1 { "role" } else { "roles" };
    match (d.is_empty(), i.is_empty()) {
        (false, true) => format!("the cluster's built-in {} {}", listed(&d, "and"), noun(&d)),
        (false, false) => format!(
            "the cluster's built-in {} {}, and so {}, which {} {}",
            listed(&d, "and"),
            noun(&d),
            listed(&i, "and"),
            if i.len() == 1 { "includes" } else { "include" },
            if d.len() == 1 { "it" } else { "them" },
        ),
        _ => {
            let through: Vec<&str> = direct.iter().copied().collect();
            format!(
                "the cluster's built-in {} {} through {}",
                listed(&i, "and"),
                noun(&i),
                listed(&through, "and")
            )
        }
    }
}

/// One line of what everyone bound to built-in `roles` gains or loses.
fn built_in_line(
    head: String,
    roles: &[&str],
    perms: &BTreeSet<Permission>,
    gained: bool,
) -> String {
    let text = grouped(&perms.iter().map(|p| (p.clone(), BTreeSet::new())).collect()).join("; ");
    let who = listed(roles, "or");
    match (text.is_empty(), gained) {
        (true, _) => head,
        (false, true) => format!("{head}: everyone bound to {who} now also gets {text}"),
        // Other ClusterRoles aggregated into the same role may grant the same: say so rather
        // than claim a loss this chart alone cannot decide.
        (false, false) => format!(
            "{head}: everyone bound to {who} loses {text}, unless other roles aggregated there grant the same"
        ),
    }
}

type Side<'a> = Option<(&'a Object, &'a Grants)>;

/// What aggregating into the built-in roles changes between the two sides of one ClusterRole.
fn built_in_lines(old: Side, new: Side) -> Vec<String> {
    let direct = |side: Side| side.map(|(o, _)| built_in_direct(o)).unwrap_or_default();
    let perms = |side: Side| -> BTreeSet<Permission> {
        side.map(|(_, g)| g.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (d_old, d_new) = (direct(old), direct(new));
    let (r_old, r_new) = (built_in_reached(&d_old), built_in_reached(&d_new));
    let (p_old, p_new) = (perms(old), perms(new));
    let start: Vec<&str> = r_new.difference(&r_old).copied().collect();
    let stay: Vec<&str> = r_new.intersection(&r_old).copied().collect();
    let stop: Vec<&str> = r_old.difference(&r_new).copied().collect();
    let mut out = Vec::new();
    if !start.is_empty() {
        let head = format!("now aggregated into {}", built_in_phrase(&start, &d_new));
        out.push(built_in_line(head, &start, &p_new, true));
    }
    if !stay.is_empty() {
        let head = format!("aggregated into {}", built_in_phrase(&stay, &d_new));
        let added: BTreeSet<Permission> = p_new.difference(&p_old).cloned().collect();
        let removed: BTreeSet<Permission> = p_old.difference(&p_new).cloned().collect();
        if !added.is_empty() {
            out.push(built_in_line(head.clone(), &stay, &added, true));
        }
        if !removed.is_empty() {
            out.push(built_in_line(head, &stay, &removed, false));
        }
    }
    if !stop.is_empty() {
        let head = format!(
            "no longer aggregated into {}",
            built_in_phrase(&stop, &d_old)
        );
        out.push(built_in_line(head, &stop, &p_old, false));
    }
    out
}

/// Verbs in the order people say them; others after, alphabetically.
const VERB_ORDER: &[&str] = &[
    "*",
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

fn verbs_text(verbs: &Words) -> String {
    let mut v: Vec<&str> = verbs.iter().copied().collect();
    v.sort_by_key(|verb| {
        (
            VERB_ORDER
                .iter()
                .position(|k| k == verb)
                .unwrap_or(VERB_ORDER.len()),
            *verb,
        )
    });
    v.into_iter()
        .map(|verb| if verb == "*" { "all verbs" } else { verb })
        .collect::<Vec<_>>()
        .join(", ")
}

fn resource_text(r: &str) -> String {
    match r {
        "*" => "all resources".into(),
        // RBAC's one resource pattern: a subresource of every resource.
        _ => match r.strip_prefix("*/") {
            Some(sub) => format!("{sub} of all resources"),
            None => r.into(),
        },
    }
}

fn group_text(g: &str) -> &str {
    match g {
        "" => "core",
        "*" => "all groups",
        g => g,
    }
}

fn via_text(via: &Via) -> String {
    let names: Vec<&str> = via.iter().map(String::as_str).collect();
    match names.len() {
        0 => String::new(),
        1 => format!(" via aggregation from ClusterRole {}", names[0]),
        _ => format!(" via aggregation from ClusterRoles {}", names.join(", ")),
    }
}

/// Verbs, names, resources or groups: sets of words that group a line.
type Words<'a> = BTreeSet<&'a str>;
/// (group, resource, source, name) → verbs.
type ByObject<'a> = BTreeMap<(&'a str, &'a str, &'a Via, Option<&'a str>), Words<'a>>;
/// (group, resource, source, verbs, named) → names.
type ByResource<'a> = BTreeMap<(&'a str, &'a str, &'a Via, Words<'a>, bool), Words<'a>>;
/// (group, source, verbs, names) → resources.
type ByGroup<'a> = BTreeMap<(&'a str, &'a Via, Words<'a>, Option<Words<'a>>), Words<'a>>;
/// (resources, names, verbs, source) → groups.
type ByLine<'a> = BTreeMap<(Words<'a>, Option<Words<'a>>, Words<'a>, &'a Via), Words<'a>>;

/// Readable lines for `grants`, as few as exact wording allows: resources that have the same
/// verbs on the same object names from the same source share a line, and so do API groups that
/// have the same of all those (`create, patch on events (core, events.k8s.io)`). Sorted.
fn grouped(grants: &Grants) -> Vec<String> {
    // Verbs per object (any, or named) and source.
    let mut objects = ByObject::new();
    let mut urls: BTreeMap<(&str, &Via), Words> = BTreeMap::new();
    for (p, via) in grants {
        match p {
            Permission::Resource {
                group,
                resource,
                name,
                verb,
            } => {
                objects
                    .entry((group.as_str(), resource.as_str(), via, name.as_deref()))
                    .or_default()
                    .insert(verb.as_str());
            }
            Permission::NonResource { url, verb } => {
                urls.entry((url.as_str(), via))
                    .or_default()
                    .insert(verb.as_str());
            }
        }
    }
    // Names of one resource with the same verbs; `false` keys the any-object grants.
    let mut names = ByResource::new();
    for ((group, resource, via, name), verbs) in objects {
        names
            .entry((group, resource, via, verbs, name.is_some()))
            .or_default()
            .extend(name);
    }
    // Resources of one group with the same verbs on the same names.
    let mut resources = ByGroup::new();
    for ((group, resource, via, verbs, named), names) in names {
        resources
            .entry((group, via, verbs, named.then_some(names)))
            .or_default()
            .insert(resource);
    }
    // Groups with the same everything.
    let mut groups = ByLine::new();
    for ((group, via, verbs, named), resources) in resources {
        groups
            .entry((resources, named, verbs, via))
            .or_default()
            .insert(group);
    }
    let mut lines: Vec<_> = groups
        .into_iter()
        .map(|((resources, named, verbs, via), groups)| (groups, resources, named, verbs, via))
        .collect();
    lines.sort();
    let mut out: Vec<String> = lines
        .into_iter()
        .map(|(groups, resources, named, verbs, via)| {
            let resources: Vec<String> = resources.into_iter().map(resource_text).collect();
            let named = named
                .map(|n| format!(" named {}", n.into_iter().collect::<Vec<_>>().join(", ")))
                .unwrap_or_default();
            let groups: Vec<&str> = groups.into_iter().map(group_text).collect();
            format!(
                "{} on {}{named} ({}){}",
                verbs_text(&verbs),
                resources.join(", "),
                groups.join(", "),
                via_text(via)
            )
        })
        .collect();
    // URLs with the same verbs from the same source.
    let mut by_verbs: BTreeMap<(Words, &Via), Words> = BTreeMap::new();
    for ((url, via), verbs) in urls {
        by_verbs.entry((verbs, via)).or_default().insert(url);
    }
    let mut url_lines: Vec<_> = by_verbs
        .into_iter()
        .map(|((verbs, via), urls)| (urls, verbs, via))
        .collect();
    url_lines.sort();
    out.extend(url_lines.into_iter().map(|(urls, verbs, via)| {
        let urls: Vec<&str> = urls
            .into_iter()
            .map(|u| if u == "*" { "all non-resource URLs" } else { u })
            .collect();
        format!(
            "{} on {}{}",
            verbs_text(&verbs),
            urls.join(", "),
            via_text(via)
        )
    }));
    out
}

/// The lines of one Role or ClusterRole.
fn role_lines(old: Side, new: Side) -> Vec<String> {
    let mut out = Vec::new();
    match (old, new) {
        (None, Some((n, grants))) => {
            let lines = grouped(grants);
            out.push(match (lines.is_empty(), aggregation_selectors(n)) {
                (false, _) => format!("new, grants {}", lines.join("; ")),
                (true, Some(_)) => "new, grants nothing: its aggregation selectors match no ClusterRole in these manifests".into(),
                (true, None) => "new, grants nothing".into(),
            });
        }
        (Some(_), None) => out.push("removed".into()),
        (Some((_, a)), Some((_, b))) => {
            let only = |x: &Grants, y: &Grants| -> Grants {
                x.iter()
                    .filter(|(p, _)| !y.contains_key(*p))
                    .map(|(p, via)| (p.clone(), via.clone()))
                    .collect()
            };
            out.extend(
                grouped(&only(b, a))
                    .into_iter()
                    .map(|l| format!("now also grants {l}")),
            );
            out.extend(
                grouped(&only(a, b))
                    .into_iter()
                    .map(|l| format!("no longer grants {l}")),
            );
        }
        (None, None) => {}
    }
    // Rules written into an aggregated ClusterRole never take effect: say so when they appear
    // or change, since a reviewer reading the diff would think they do.
    if let Some((n, _)) = new {
        let own = |o: &Object| permissions(o.value.get("rules"));
        if aggregation_selectors(n).is_some() && !own(n).is_empty() {
            let before = old.map(|(o, _)| (aggregation_selectors(o).is_some(), own(o)));
            if before != Some((true, own(n))) {
                out.push("its own rules have no effect: the cluster's aggregation controller replaces them with the aggregated ones".into());
            }
        }
    }
    out.extend(built_in_lines(old, new));
    out
}

fn binding(o: &Object) -> (String, BTreeSet<String>) {
    let role = o
        .value
        .get("roleRef")
        .map(|r| {
            format!(
                "{} {}",
                r.get("kind").and_then(Value::as_str).unwrap_or("?"),
                r.get("name").and_then(Value::as_str).unwrap_or("?")
            )
        })
        .unwrap_or_default();
    let subjects = o
        .value
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| {
            let kind = s.get("kind").and_then(Value::as_str).unwrap_or("?");
            let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
            match s.get("namespace").and_then(Value::as_str) {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            }
        })
        .collect();
    (role, subjects)
}

fn binding_lines(old: Option<&Object>, new: Option<&Object>) -> Vec<String> {
    let mut out = Vec::new();
    match (old, new) {
        (None, Some(n)) => {
            let (role, subjects) = binding(n);
            out.push(format!(
                "new, binds {role} to {}",
                subjects.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        (Some(_), None) => out.push("removed".into()),
        (Some(o), Some(n)) => {
            let ((ra, sa), (rb, sb)) = (binding(o), binding(n));
            if ra != rb {
                out.push(format!("roleRef {ra} → {rb}"));
            }
            out.extend(sb.difference(&sa).map(|s| format!("adds subject {s}")));
            out.extend(sa.difference(&sb).map(|s| format!("drops subject {s}")));
        }
        (None, None) => {}
    }
    out
}

pub(super) fn rbac_changes(old: &Objects, new: &Objects) -> Vec<RbacChange> {
    let (grants_old, grants_new) = (effective(old), effective(new));
    let none = Grants::new();
    let keys: BTreeSet<&ObjectRef> = old
        .keys()
        .chain(new.keys())
        .copied()
        .filter(|k| k.group == RBAC_GROUP)
        .collect();
    let mut out = Vec::new();
    for key in keys {
        let (o, n) = (old.get(key).copied(), new.get(key).copied());
        let lines = if is_role(key) {
            role_lines(
                o.map(|o| (o, grants_old.get(key).unwrap_or(&none))),
                n.map(|n| (n, grants_new.get(key).unwrap_or(&none))),
            )
        } else {
            binding_lines(o, n)
        };
        out.extend(lines.into_iter().map(|change| RbacChange {
            object: key.clone(),
            change,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{diff, Manifests};
    use super::*;

    /// The RBAC lines of the diff from `old` to `new` (YAML streams).
    fn rbac(old: &str, new: &str) -> Vec<String> {
        let (a, b) = (
            Manifests::parse(old).unwrap(),
            Manifests::parse(new).unwrap(),
        );
        diff(&a, &b)
            .summary
            .rbac
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A ClusterRole document; `labels` is the inside of a flow mapping, `rest` the YAML after
    /// metadata (rules, aggregationRule).
    fn cluster_role(name: &str, labels: &str, rest: &str) -> String {
        format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\n  labels: {{{labels}}}\n{rest}"
        )
    }

    /// A rules list with one rule, from flow-style `apiGroups`, `resources`, `verbs`.
    fn rule(groups: &str, resources: &str, verbs: &str) -> String {
        format!("rules:\n- {{apiGroups: [{groups}], resources: [{resources}], verbs: [{verbs}]}}\n")
    }

    #[test]
    fn a_rule_gaining_one_verb_reads_as_that_verb() {
        let old = cluster_role("r", "", &rule("''", "configmaps", "get, update"));
        let new = cluster_role("r", "", &rule("''", "configmaps", "get, update, patch"));
        assert_eq!(
            rbac(&old, &new),
            ["`ClusterRole r`: now also grants patch on configmaps (core)"]
        );
    }

    #[test]
    fn a_rule_losing_one_verb_reads_as_that_verb() {
        let old = cluster_role(
            "r",
            "",
            &rule("coordination.k8s.io", "leases", "get, update"),
        );
        let new = cluster_role("r", "", &rule("coordination.k8s.io", "leases", "get"));
        assert_eq!(
            rbac(&old, &new),
            ["`ClusterRole r`: no longer grants update on leases (coordination.k8s.io)"]
        );
    }

    #[test]
    fn a_new_resource_in_an_existing_rule_is_just_that_resource() {
        let old = cluster_role("r", "", &rule("''", "pods", "get, list, watch"));
        let new = cluster_role("r", "", &rule("''", "pods, services", "get, list, watch"));
        assert_eq!(
            rbac(&old, &new),
            ["`ClusterRole r`: now also grants get, list, watch on services (core)"]
        );
    }

    #[test]
    fn resources_with_the_same_new_verbs_share_a_line() {
        // configmaps and secrets gain patch from different rules; pods gains delete; events
        // gain the same in two groups. Rules are reshuffled, which alone says nothing.
        let old = cluster_role(
            "r",
            "",
            "rules:\n- {apiGroups: [''], resources: [configmaps, secrets, pods], verbs: [get]}\n",
        );
        let new = cluster_role(
            "r",
            "",
            "rules:\n- {apiGroups: [''], resources: [pods], verbs: [get, delete]}\n- {apiGroups: [''], resources: [secrets], verbs: [get, patch]}\n- {apiGroups: [''], resources: [configmaps], verbs: [patch, get]}\n- {apiGroups: ['', events.k8s.io], resources: [events], verbs: [create, patch]}\n",
        );
        assert_eq!(
            rbac(&old, &new),
            [
                "`ClusterRole r`: now also grants patch on configmaps, secrets (core)",
                "`ClusterRole r`: now also grants delete on pods (core)",
                "`ClusterRole r`: now also grants create, patch on events (core, events.k8s.io)",
            ]
        );
    }

    #[test]
    fn wildcards_stay_literal_and_read_as_words() {
        let old = cluster_role("r", "", &rule("''", "pods", "get"));
        let new = cluster_role(
            "r",
            "",
            "rules:\n- {apiGroups: [''], resources: [pods], verbs: [get]}\n- {apiGroups: ['*'], resources: ['*'], verbs: ['*']}\n- {apiGroups: [apps], resources: ['*/scale'], verbs: [update]}\n- {nonResourceURLs: ['*'], verbs: [get]}\n",
        );
        assert_eq!(
            rbac(&old, &new),
            [
                "`ClusterRole r`: now also grants all verbs on all resources (all groups)",
                "`ClusterRole r`: now also grants update on scale of all resources (apps)",
                "`ClusterRole r`: now also grants get on all non-resource URLs",
            ]
        );
    }

    #[test]
    fn resource_names_are_named() {
        let old = cluster_role(
            "r",
            "",
            "rules:\n- {apiGroups: [''], resources: [configmaps], resourceNames: [old], verbs: [get]}\n",
        );
        let new = cluster_role(
            "r",
            "",
            "rules:\n- {apiGroups: [''], resources: [configmaps, secrets], resourceNames: [a, b], verbs: [get]}\n",
        );
        assert_eq!(
            rbac(&old, &new),
            [
                "`ClusterRole r`: now also grants get on configmaps, secrets named a, b (core)",
                "`ClusterRole r`: no longer grants get on configmaps named old (core)",
            ]
        );
    }

    #[test]
    fn non_resource_urls_are_compared_one_by_one() {
        let old = cluster_role(
            "r",
            "",
            "rules:\n- {nonResourceURLs: [/metrics], verbs: [get]}\n",
        );
        let new = cluster_role(
            "r",
            "",
            "rules:\n- {nonResourceURLs: [/metrics, /healthz, /livez], verbs: [get]}\n",
        );
        assert_eq!(
            rbac(&old, &new),
            ["`ClusterRole r`: now also grants get on /healthz, /livez"]
        );
    }

    #[test]
    fn new_roles_list_their_grants_grouped_and_removed_roles_say_removed() {
        let role = "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: app, namespace: ns}\nrules:\n- {apiGroups: [''], resources: [pods], verbs: [list, get]}\n- {apiGroups: [''], resources: [services], verbs: [get, list]}\n- {apiGroups: [apps], resources: [deployments], verbs: [get]}\n";
        let old = cluster_role("gone", "", &rule("''", "pods", "get"));
        let new = format!("{role}{}", cluster_role("empty", "", ""));
        assert_eq!(
            rbac(&old, &new),
            [
                "`ClusterRole empty`: new, grants nothing",
                "`ClusterRole gone`: removed",
                "`Role ns/app`: new, grants get, list on pods, services (core); get on deployments (apps)",
            ]
        );
    }

    #[test]
    fn an_aggregated_cluster_role_follows_what_its_contributors_grant() {
        let agg = cluster_role(
            "agg",
            "",
            "aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {team: a}\n  - matchExpressions:\n    - {key: tier, operator: In, values: [gold]}\n    - {key: legacy, operator: DoesNotExist}\n",
        );
        let x = |verbs: &str| cluster_role("x", "team: a", &rule("''", "configmaps", verbs));
        // y matches the second selector only once it drops the `legacy` label.
        let y = |labels: &str| cluster_role("y", labels, &rule("''", "configmaps", "get"));
        let other = cluster_role("z", "team: b", &rule("''", "secrets", "get"));
        let old = format!(
            "{agg}{}{}{other}",
            x("get, update"),
            y("tier: gold, legacy: 'yes'")
        );
        let new = format!("{agg}{}{}{other}", x("get, update, patch"), y("tier: gold"));
        assert_eq!(
            rbac(&old, &new),
            [
                "`ClusterRole agg`: now also grants patch on configmaps (core) via aggregation from ClusterRole x",
                "`ClusterRole x`: now also grants patch on configmaps (core)",
            ]
        );
        // The same from nothing: each permission says where it comes from.
        assert_eq!(
            rbac("", &new),
            [
                "`ClusterRole agg`: new, grants get on configmaps (core) via aggregation from ClusterRoles x, y; update, patch on configmaps (core) via aggregation from ClusterRole x",
                "`ClusterRole x`: new, grants get, update, patch on configmaps (core)",
                "`ClusterRole y`: new, grants get on configmaps (core)",
                "`ClusterRole z`: new, grants get on secrets (core)",
            ]
        );
    }

    #[test]
    fn aggregation_chains_replace_own_rules_and_skip_the_role_itself() {
        // top ← mid ← leaf; top also matches itself, which the controller skips; top's own
        // rules are replaced by the controller.
        let top = cluster_role(
            "top",
            "layer: top",
            "aggregationRule:\n  clusterRoleSelectors:\n  - matchExpressions: [{key: layer, operator: Exists}]\n  - matchExpressions: [{key: layer, operator: NotIn, values: [leaf]}]\nrules:\n- {apiGroups: [''], resources: [nodes], verbs: [delete]}\n",
        );
        let mid = cluster_role(
            "mid",
            "layer: mid",
            "aggregationRule:\n  clusterRoleSelectors:\n  - matchLabels: {layer: leaf}\n",
        );
        let leaf = cluster_role("leaf", "layer: leaf", &rule("''", "pods", "get"));
        assert_eq!(
            rbac("", &format!("{top}{mid}{leaf}")),
            [
                "`ClusterRole leaf`: new, grants get on pods (core)",
                "`ClusterRole mid`: new, grants get on pods (core) via aggregation from ClusterRole leaf",
                "`ClusterRole top`: new, grants get on pods (core) via aggregation from ClusterRoles leaf, mid",
                "`ClusterRole top`: its own rules have no effect: the cluster's aggregation controller replaces them with the aggregated ones",
            ]
        );
    }

    #[test]
    fn label_selectors_follow_kubernetes() {
        let labels: BTreeMap<&str, &str> = [("a", "1"), ("b", "2")].into();
        let sel = |yaml: &str| -> Value { crate::yaml::from_str(yaml).unwrap() };
        let matches = |yaml: &str| selector_matches(&sel(yaml), &labels);
        assert!(matches("{}"), "the empty selector matches everything");
        assert!(matches("matchLabels: {a: '1'}"));
        assert!(!matches("matchLabels: {a: '1', c: '3'}"));
        assert!(matches(
            "matchExpressions: [{key: a, operator: In, values: ['1', '9']}]"
        ));
        assert!(!matches(
            "matchExpressions: [{key: c, operator: In, values: ['1']}]"
        ));
        assert!(matches(
            "matchExpressions: [{key: c, operator: NotIn, values: ['1']}]"
        ));
        assert!(!matches(
            "matchExpressions: [{key: a, operator: NotIn, values: ['1']}]"
        ));
        assert!(matches("matchExpressions: [{key: b, operator: Exists}]"));
        assert!(matches(
            "matchExpressions: [{key: c, operator: DoesNotExist}]"
        ));
        assert!(!matches(
            "matchExpressions: [{key: b, operator: DoesNotExist}]"
        ));
        assert!(!matches(
            "matchExpressions: [{key: a, operator: Like, values: ['1']}]"
        ));
        assert!(!matches(
            "matchExpressions: [{key: a, operator: In, values: []}]"
        ));
    }

    #[test]
    fn a_role_that_starts_aggregating_to_admin_says_who_gains_what() {
        let old = cluster_role("x", "", &rule("example.com", "widgets", "get, list"));
        let new = cluster_role(
            "x",
            "rbac.authorization.k8s.io/aggregate-to-admin: 'true'",
            &rule("example.com", "widgets", "get, list"),
        );
        assert_eq!(
            rbac(&old, &new),
            ["`ClusterRole x`: now aggregated into the cluster's built-in admin role: everyone bound to admin now also gets get, list on widgets (example.com)"]
        );
        assert_eq!(
            rbac(&new, &old),
            ["`ClusterRole x`: no longer aggregated into the cluster's built-in admin role: everyone bound to admin loses get, list on widgets (example.com), unless other roles aggregated there grant the same"]
        );
    }

    #[test]
    fn built_in_aggregation_is_exact_about_where() {
        let labelled =
            |labels: &str, verbs: &str| cluster_role("x", labels, &rule("''", "configmaps", verbs));
        let view = "rbac.authorization.k8s.io/aggregate-to-view: 'true'";
        let edit = "rbac.authorization.k8s.io/aggregate-to-edit: 'true'";
        // Changing permissions while aggregated: view is part of edit, edit of admin.
        assert_eq!(
            rbac(&labelled(view, "get"), &labelled(view, "get, patch")),
            [
                "`ClusterRole x`: now also grants patch on configmaps (core)",
                "`ClusterRole x`: aggregated into the cluster's built-in view role, and so admin and edit, which include it: everyone bound to admin, edit or view now also gets patch on configmaps (core)",
            ]
        );
        // Moving from view to edit: view loses it, edit and admin keep it through edit.
        assert_eq!(
            rbac(&labelled(view, "get"), &labelled(edit, "get")),
            ["`ClusterRole x`: no longer aggregated into the cluster's built-in view role: everyone bound to view loses get on configmaps (core), unless other roles aggregated there grant the same"]
        );
        // Labels other than `true`, and OpenShift's cluster-reader, aggregate into nothing built in.
        let other = "rbac.authorization.k8s.io/aggregate-to-admin: 'false', rbac.authorization.k8s.io/aggregate-to-cluster-reader: 'true'";
        assert!(rbac(&labelled("", "get"), &labelled(other, "get")).is_empty());
        // A removed ClusterRole takes its permissions out of the built-in roles too.
        assert_eq!(
            rbac(&labelled(edit, "get"), ""),
            [
                "`ClusterRole x`: removed",
                "`ClusterRole x`: no longer aggregated into the cluster's built-in edit role, and so admin, which includes it: everyone bound to admin or edit loses get on configmaps (core), unless other roles aggregated there grant the same",
            ]
        );
        // Namespaced Roles do not aggregate.
        let role = format!("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: ns\n  labels: {{{edit}}}\n{}", rule("''", "pods", "get"));
        assert_eq!(
            rbac("", &role),
            ["`Role ns/r`: new, grants get on pods (core)"]
        );
    }

    #[test]
    fn bindings_read_as_before() {
        let binding = |kind: &str, role: &str, subjects: &str| {
            format!("---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {{name: b, namespace: ns}}\nroleRef: {{kind: ClusterRole, name: {role}}}\nsubjects: [{subjects}]\n")
        };
        let sa = "{kind: ServiceAccount, name: sa, namespace: ns}";
        let user = "{kind: User, name: alice}";
        assert_eq!(
            rbac(
                &binding("RoleBinding", "r", sa),
                &binding("RoleBinding", "s", user)
            ),
            [
                "`RoleBinding ns/b`: roleRef ClusterRole r → ClusterRole s",
                "`RoleBinding ns/b`: adds subject User alice",
                "`RoleBinding ns/b`: drops subject ServiceAccount ns/sa",
            ]
        );
        assert_eq!(
            rbac("", &binding("RoleBinding", "r", &format!("{sa}, {user}"))),
            ["`RoleBinding ns/b`: new, binds ClusterRole r to ServiceAccount ns/sa, User alice"]
        );
        assert_eq!(
            rbac(&binding("RoleBinding", "r", sa), ""),
            ["`RoleBinding ns/b`: removed"]
        );
        let same = binding("RoleBinding", "r", sa);
        assert!(rbac(&same, &same).is_empty());
    }
}
