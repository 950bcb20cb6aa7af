//! Deterministic shards of a clip list: `--shard K/N`, or from a Slurm job array or a
//! Kubernetes Indexed Job's environment.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The `index`-th (from 0) of `count` shards. Clip `i` of the list sorted by path belongs to
/// shard `i mod count`, so shards differ in size by at most one clip and long runs of similar
/// clips (one folder's, say) spread over all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard {0:?}: expected K/N with 0 <= K < N (for example 0/4), or from-env")]
    Syntax(String),
    #[error("--shard {index}/{count}: K must be below N (shards are numbered from 0)")]
    OutOfRange { index: usize, count: usize },
    #[error(
        "--shard from-env: neither SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (a Slurm job array) nor \
         JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) is set"
    )]
    NoEnvironment,
    #[error("--shard from-env: {name}={value:?} is not a whole number")]
    BadVariable { name: &'static str, value: String },
    #[error("--shard from-env with JOB_COMPLETION_INDEX needs --shards N (the Job's completions)")]
    NoCount,
}

impl Shard {
    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Self, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (k, n) = text.split_once('/').ok_or_else(syntax)?;
        let index: usize = k.trim().parse().map_err(|_| syntax())?;
        let count: usize = n.trim().parse().map_err(|_| syntax())?;
        Self::new(index, count)
    }

    pub fn new(index: usize, count: usize) -> Result<Self, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    /// K and N from the environment (`var` reads a variable):
    /// - a Slurm job array: `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN` (0 when unset, so
    ///   `--array=1-4` works as well as `--array=0-3`) of `SLURM_ARRAY_TASK_COUNT`;
    /// - a Kubernetes Indexed Job: `JOB_COMPLETION_INDEX` of `shards` (`--shards N`, which
    ///   also overrides Slurm's count when given).
    pub fn from_env(shards: Option<usize>, var: impl Fn(&str) -> Option<String>) -> Result<Self, ShardError> {
        let number = |name: &'static str| -> Result<Option<usize>, ShardError> {
            match var(name) {
                None => Ok(None),
                Some(value) => value.trim().parse().map(Some).map_err(|_| ShardError::BadVariable { name, value }),
            }
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count = match shards {
                Some(n) => n,
                None => number("SLURM_ARRAY_TASK_COUNT")?.ok_or(ShardError::NoEnvironment)?,
            };
            let index = id.checked_sub(min).ok_or(ShardError::OutOfRange { index: id, count })?;
            return Self::new(index, count);
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            return Self::new(index, shards.ok_or(ShardError::NoCount)?);
        }
        Err(ShardError::NoEnvironment)
    }

    /// This shard's clips, from `clips` sorted by path (the order the caller passed does not
    /// matter).
    pub fn select(&self, clips: &[PathBuf]) -> Vec<PathBuf> {
        let mut sorted = clips.to_vec();
        sorted.sort();
        sorted.into_iter().enumerate().filter(|(i, _)| i % self.count == self.index).map(|(_, c)| c).collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_specs_parse_and_bad_ones_are_refused() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse(" 0 / 1 "), Ok(Shard { index: 0, count: 1 }));
        assert_eq!(Shard::parse("4/4"), Err(ShardError::OutOfRange { index: 4, count: 4 }));
        assert_eq!(Shard::parse("0/0"), Err(ShardError::OutOfRange { index: 0, count: 0 }));
        for bad in ["", "1", "a/2", "1/b", "-1/2", "1/2/3"] {
            assert_eq!(Shard::parse(bad), Err(ShardError::Syntax(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn shards_partition_the_sorted_list() {
        let clips: Vec<PathBuf> = ["d.mp4", "a.mp4", "c.mp4", "b.mp4", "e.mp4"].iter().map(PathBuf::from).collect();
        let shards: Vec<Vec<PathBuf>> = (0..3).map(|k| Shard::new(k, 3).unwrap().select(&clips)).collect();
        assert_eq!(shards[0], vec![PathBuf::from("a.mp4"), PathBuf::from("d.mp4")]);
        assert_eq!(shards[1], vec![PathBuf::from("b.mp4"), PathBuf::from("e.mp4")]);
        assert_eq!(shards[2], vec![PathBuf::from("c.mp4")]);
        let mut all: Vec<PathBuf> = shards.concat();
        all.sort();
        let mut sorted = clips.clone();
        sorted.sort();
        assert_eq!(all, sorted);
    }

    #[test]
    fn shards_come_from_slurm_or_kubernetes() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let slurm = env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1")]);
        assert_eq!(Shard::from_env(None, slurm), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(
            Shard::from_env(None, env(&[("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "2")])),
            Ok(Shard { index: 0, count: 2 })
        );
        assert_eq!(Shard::from_env(Some(5), env(&[("JOB_COMPLETION_INDEX", "4")])), Ok(Shard { index: 4, count: 5 }));
        assert_eq!(Shard::from_env(None, env(&[("JOB_COMPLETION_INDEX", "4")])), Err(ShardError::NoCount));
        assert_eq!(Shard::from_env(Some(2), env(&[("JOB_COMPLETION_INDEX", "2")])), Err(ShardError::OutOfRange { index: 2, count: 2 }));
        assert_eq!(Shard::from_env(None, env(&[])), Err(ShardError::NoEnvironment));
        assert!(matches!(
            Shard::from_env(None, env(&[("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "2")])),
            Err(ShardError::BadVariable { name: "SLURM_ARRAY_TASK_ID", .. })
        ));
    }
}
