//! Java's text forms of numbers, addresses and dates. Four-letter words are parsed by
//! scripts written against ZooKeeper's output, so ours must spell values the way the JVM
//! spells them (`0.0`, `/[0:0:0:0:0:0:0:1]:2181`, `Mon Nov 23 16:37:39 UTC 2026`).

use std::net::SocketAddr;

/// `Double.toString`: shortest digits that read back, always with a fraction part; plain
/// notation for 10^-3 <= |d| < 10^7, else `d.dddE±n`.
pub fn double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = d.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{d}");
        return if s.contains('.') { s } else { s + ".0" };
    }
    let s = format!("{d:e}");
    let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exp}")
}

/// ZooKeeper's average latency: the mean rounded half-up to 4 decimals
/// (`AvgMinMaxCounter.getAvg`).
pub fn round4(avg: f64) -> f64 {
    (avg * 10_000.0).round() / 10_000.0
}

/// `Long.toHexString`: lowercase, no padding, negatives as their two's complement.
pub fn hex(v: i64) -> String {
    format!("{v:x}")
}

/// `InetSocketAddress.toString` for an unresolved peer on Java 14+: `/1.2.3.4:5`, or
/// `/[0:0:0:0:0:0:0:1]:5` (IPv6 in brackets, every group, no `::`). IPv4-mapped IPv6
/// addresses print as IPv4, as Java turns them into `Inet4Address`.
pub fn socket_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("/{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => format!("/{v4}:{}", a.port()),
            None => {
                let groups: Vec<String> = a.ip().segments().iter().map(|g| format!("{g:x}")).collect();
                let scope = match a.scope_id() {
                    0 => String::new(),
                    id => format!("%{id}"),
                };
                format!("/[{}{scope}]:{}", groups.join(":"), a.port())
            }
        },
    }
}

/// Civil date and time in UTC of a Unix time in ms: (year, month 1-12, day, hour, minute,
/// second, weekday 0 = Sunday). Howard Hinnant's `civil_from_days`.
pub(crate) fn civil(ms: i64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    (year, month, day, sod / 3600, sod / 60 % 60, sod % 60, weekday)
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `java.util.Date.toString` in UTC: `Mon Nov 23 16:37:39 UTC 2026`. ZooKeeper uses the
/// server's zone; we always print UTC, which Java spells the same way.
pub fn date(ms: i64) -> String {
    let (y, mo, d, h, mi, s, wd) = civil(ms);
    format!("{} {} {d:02} {h:02}:{mi:02}:{s:02} UTC {y}", WEEKDAYS[wd], MONTHS[mo as usize - 1])
}

/// The build-date form of ZooKeeper's version line: `2024-12-29 17:54 UTC`.
pub fn build_date(ms: i64) -> String {
    let (y, mo, d, h, mi, _, _) = civil(ms);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_prints_them() {
        let cases = [
            (0.0, "0.0"),
            (3.7778, "3.7778"),
            (0.5698, "0.5698"),
            (2.0, "2.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1.25e-5, "1.25E-5"),
            (9_999_999.0, "9999999.0"),
            (1e7, "1.0E7"),
            (123_456_789.5, "1.234567895E8"),
            (-2.5, "-2.5"),
        ];
        for (d, want) in cases {
            assert_eq!(double(d), want, "{d}");
        }
        assert_eq!(double(round4(34.0 / 9.0)), "3.7778");
        assert_eq!(double(round4(0.0)), "0.0");
        assert_eq!(double(round4(1.0 / 3.0)), "0.3333");
        assert_eq!(double(round4(2.5)), "2.5");
    }

    #[test]
    fn hex_is_long_to_hex_string() {
        assert_eq!(hex(0x1000003b73d0001), "1000003b73d0001");
        assert_eq!(hex(0), "0");
        assert_eq!(hex(-1), "ffffffffffffffff");
    }

    #[test]
    fn socket_addresses() {
        // Seen from ZooKeeper 3.8.0 on Java 17: `cons` over IPv4 and IPv6.
        assert_eq!(socket_addr(&"127.0.0.1:47100".parse().unwrap()), "/127.0.0.1:47100");
        assert_eq!(socket_addr(&"[::1]:51844".parse().unwrap()), "/[0:0:0:0:0:0:0:1]:51844");
        assert_eq!(socket_addr(&"[::ffff:10.0.0.7]:9".parse().unwrap()), "/10.0.0.7:9");
        assert_eq!(socket_addr(&"[2001:db8::1a]:2181".parse().unwrap()), "/[2001:db8:0:0:0:0:0:1a]:2181");
    }

    #[test]
    fn dates() {
        // Both seen in ZooKeeper 3.8.0's `dump` on this machine.
        assert_eq!(date(1_795_451_859_000), "Mon Nov 23 16:37:39 UTC 2026");
        assert_eq!(date(1_795_451_861_999), "Mon Nov 23 16:37:41 UTC 2026");
        assert_eq!(date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(build_date(1_735_494_840_000), "2024-12-29 17:54 UTC");
    }
}
