//! Slack message timestamps (`"1764400000.000100"`): unique per channel, compared as integer
//! micro-seconds, never as floats (a float loses the last digits).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Slack `ts`, held as micro-seconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Ts(i64);

impl Ts {
    /// Parses `"seconds.micros"` (a missing or shorter fraction is padded: `"5.1"` is 5.100000).
    pub fn parse(s: &str) -> Option<Ts> {
        let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
        if secs.is_empty() || frac.len() > 6 || !secs.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: i64 = secs.parse().ok()?;
        let micros: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
        secs.checked_mul(1_000_000)?.checked_add(micros).map(Ts)
    }

    pub fn from_micros(micros: i64) -> Ts {
        Ts(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn from_system_time(t: SystemTime) -> Ts {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Ts(i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }

    pub fn now() -> Ts {
        Ts::from_system_time(SystemTime::now())
    }

    /// This ts moved by a signed number of micro-seconds.
    pub fn shifted(self, micros: i64) -> Ts {
        Ts(self.0.saturating_add(micros))
    }

    /// How long before `now` this message was posted (zero if it is in the future).
    pub fn age(self, now: Ts) -> Duration {
        Duration::from_micros(u64::try_from(now.0 - self.0).unwrap_or(0))
    }

    /// `self - d`, for look-back windows.
    pub fn minus(self, d: Duration) -> Ts {
        Ts(self.0.saturating_sub(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0.div_euclid(1_000_000), self.0.rem_euclid(1_000_000))
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        let s = String::deserialize(d)?;
        Ts::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a Slack ts: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_without_losing_micros() {
        let ts = Ts::parse("1764400000.000100").unwrap();
        assert_eq!(ts.as_micros(), 1_764_400_000_000_100);
        assert_eq!(ts.to_string(), "1764400000.000100");
        assert_eq!(Ts::parse("5.1").unwrap().to_string(), "5.100000");
        assert_eq!(Ts::parse("5").unwrap().to_string(), "5.000000");
    }

    #[test]
    fn compares_as_integers() {
        let a = Ts::parse("1764400000.000100").unwrap();
        let b = Ts::parse("1764400000.000101").unwrap();
        let c = Ts::parse("1764400001.000000").unwrap();
        assert!(a < b && b < c);
        assert_eq!(b.as_micros() - a.as_micros(), 1);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", ".5", "1.2.3", "abc", "1.1234567", "-1.0", "1e9"] {
            assert!(Ts::parse(bad).is_none(), "{bad}");
        }
    }
}
