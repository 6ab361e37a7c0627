//! CodeBuild's log format: `[Container] 2026/07/14 09:57:50.447178 Entering phase BUILD`.
//! Command output goes through unchanged (secrets masked), so the log reads like CodeBuild's.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// One `[Container]` line on stdout, with a UTC timestamp to the microsecond.
pub fn container(message: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "[Container] {} {message}",
        timestamp(SystemTime::now())
    );
    let _ = out.flush();
}

/// A line of a command's output.
pub fn output(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `YYYY/MM/DD HH:MM:SS.ffffff`, UTC.
pub fn timestamp(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or_default());
    format!(
        "{year:04}/{month:02}/{day:02} {:02}:{:02}:{:02}.{:06}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_like_codebuild() {
        let t = UNIX_EPOCH + Duration::from_micros(1_784_023_070_447_178);
        assert_eq!(timestamp(t), "2026/07/14 09:57:50.447178");
        assert_eq!(timestamp(UNIX_EPOCH), "1970/01/01 00:00:00.000000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&timestamp(leap)[..10], "2000/02/29");
    }
}
