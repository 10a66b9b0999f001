//! Human durations for retention settings: `7d`, `4h`, `90m`, `30s`, `500ms`, `2w`.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A whole number of milliseconds, written with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    ms: u64,
}

impl Duration {
    pub const fn from_ms(ms: u64) -> Self {
        Self { ms }
    }
    pub const fn from_secs(s: u64) -> Self {
        Self { ms: s * 1000 }
    }
    pub fn as_ms(self) -> u64 {
        self.ms
    }
    pub fn as_secs(self) -> u64 {
        self.ms / 1000
    }
    /// Whole days, rounded up.
    pub fn days_ceil(self) -> u64 {
        self.ms.div_ceil(86_400_000)
    }
}

/// Parse `<number><unit>` with unit one of ms, s, m, h, d, w.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "`{text}` is not a duration: expected a number and a unit such as 7d, 4h, 30m"
        ));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}`: number too large"))?;
    let mult: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        "" => {
            return Err(format!(
                "`{text}` has no unit: write e.g. {n}d, {n}h or {n}ms"
            ))
        }
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use ms, s, m, h, d or w)"
            ))
        }
    };
    n.checked_mul(mult)
        .map(Duration::from_ms)
        .ok_or_else(|| format!("`{text}`: duration too large"))
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [
            (604_800_000, "w"),
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (m, u) in units {
            if self.ms >= m && self.ms.is_multiple_of(m) {
                return write!(f, "{}{u}", self.ms / m);
            }
        }
        write!(f, "{}ms", self.ms)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(parse("7d").unwrap().as_secs(), 604_800);
        assert_eq!(parse("4h").unwrap().as_secs(), 14_400);
        assert_eq!(parse("500ms").unwrap().as_ms(), 500);
        assert_eq!(parse("1w").unwrap(), parse("7d").unwrap());
        assert_eq!(parse("168h").unwrap().to_string(), "1w");
        assert_eq!(parse("90m").unwrap().to_string(), "90m");
        assert_eq!(parse("25h").unwrap().days_ceil(), 2);
        assert!(parse("7").unwrap_err().contains("no unit"));
        assert!(parse("d").is_err());
        assert!(parse("3y").unwrap_err().contains("unknown unit"));
    }
}
