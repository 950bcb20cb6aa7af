//! Media timestamps as a newtype: microseconds since the start of the clip, converted once from
//! each stream's own time base so that nothing downstream handles raw `pts` values.

use std::fmt;

/// A point in (or span of) media time, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const ZERO: Self = Self(0);

    pub fn from_secs(seconds: f64) -> Self {
        Self((seconds * 1e6).round() as i64)
    }

    pub fn secs(self) -> f64 {
        self.0 as f64 / 1e6
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// Converts `pts` in units of `num/den` seconds (a stream time base).
    pub fn from_pts(pts: i64, num: i32, den: i32) -> Self {
        if den == 0 {
            return Self::ZERO;
        }
        // pts * num / den seconds, in microseconds, without overflowing for long files.
        let us = (i128::from(pts) * i128::from(num) * 1_000_000) / i128::from(den);
        Self(us.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// The same instant in units of `num/den` seconds (rounded down).
    pub fn to_pts(self, num: i32, den: i32) -> i64 {
        if num == 0 {
            return 0;
        }
        let v = (i128::from(self.0) * i128::from(den)).div_euclid(i128::from(num) * 1_000_000);
        v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

impl std::ops::Add for Timestamp {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Sub for Timestamp {
    type Output = Self;
    fn sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total_ms = self.0.div_euclid(1000);
        let sign = if total_ms < 0 { "-" } else { "" };
        let ms = total_ms.abs();
        write!(f, "{sign}{}:{:02}.{:03}", ms / 60_000, (ms / 1000) % 60, ms % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_between_time_bases() {
        // 90 kHz MPEG time base.
        assert_eq!(Timestamp::from_pts(90_000, 1, 90_000), Timestamp::from_secs(1.0));
        assert_eq!(Timestamp::from_secs(2.5).to_pts(1, 90_000), 225_000);
        // 1001/30000 (29.97 fps) frame 30 is 1.001 s.
        assert_eq!(Timestamp::from_pts(30, 1001, 30_000).micros(), 1_001_000);
        // Ten hours at 1/1e9 does not overflow.
        let ten_hours = 36_000i64 * 1_000_000_000;
        assert_eq!(Timestamp::from_pts(ten_hours, 1, 1_000_000_000).secs(), 36_000.0);
        assert_eq!(Timestamp::from_secs(61.25).to_string(), "1:01.250");
    }
}
