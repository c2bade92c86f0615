//! Sharding `sync` over a GitHub Actions matrix when one runner is not enough for a tick.
//!
//! An addon's shard is a function of its name and the shard count only (SHA-256 of the name,
//! modulo N): every leg of a run computes the same assignment on its own, even if main gains an
//! addon between the matrix job and the legs, so no addon (and so no PR) is ever taken by two
//! legs. The price is balance with few addons; at the size sharding is for (a hundred addons),
//! hashing spreads them evenly.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// One shard of N: `--shard 2/4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The 1-based shard `addon` belongs to among `count`.
    pub fn of(addon: &str, count: usize) -> usize {
        let h = Sha256::digest(addon.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        (u64::from_be_bytes(first) % count.max(1) as u64) as usize + 1
    }

    pub fn contains(&self, addon: &str) -> bool {
        Shard::of(addon, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not a shard: write I/N with 1 ≤ I ≤ N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// One leg of the matrix, as GitHub Actions reads it (`matrix.include`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Leg {
    /// `I/N`, for `sync --shard`.
    pub shard: String,
    /// The addons it takes, by name.
    pub addons: Vec<String>,
}

/// The matrix for `count` shards over `addons`: one leg per shard, in order, each with its
/// addons sorted (a leg may be empty when there are few addons).
pub fn matrix(addons: &[String], count: usize) -> Vec<Leg> {
    let mut sorted = addons.to_vec();
    sorted.sort();
    sorted.dedup();
    (1..=count)
        .map(|index| {
            let shard = Shard { index, count };
            Leg {
                shard: shard.to_string(),
                addons: sorted
                    .iter()
                    .filter(|a| shard.contains(a))
                    .cloned()
                    .collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("addon-{i:03}")).collect()
    }

    #[test]
    fn every_addon_is_in_exactly_one_leg_and_the_matrix_is_deterministic() {
        let addons = names(100);
        let m = matrix(&addons, 4);
        assert_eq!(
            m.iter().map(|l| l.shard.as_str()).collect::<Vec<_>>(),
            ["1/4", "2/4", "3/4", "4/4"]
        );
        let mut all: Vec<String> = m.iter().flat_map(|l| l.addons.clone()).collect();
        all.sort();
        assert_eq!(all, addons);
        assert_eq!(m, matrix(&addons, 4));
        // A hundred addons spread evenly enough that no leg carries twice its share.
        assert!(m.iter().all(|l| l.addons.len() < 50), "{m:?}");
    }

    #[test]
    fn a_new_addon_moves_no_other_addon() {
        let before = matrix(&names(20), 3);
        let mut more = names(20);
        more.push("new-addon".into());
        let after = matrix(&more, 3);
        for (b, a) in before.iter().zip(&after) {
            let kept: Vec<&String> = a.addons.iter().filter(|x| *x != "new-addon").collect();
            assert_eq!(kept, b.addons.iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn shards_parse_as_i_of_n_and_nothing_else() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "2", "a/b", "1/0", ""] {
            let e = bad.parse::<Shard>().expect_err(bad);
            assert!(e.contains("write I/N"), "{e}");
        }
    }
}
