//! Doubles as CloudWatch writes them in XML and alarm texts: Java's `Double.toString` layout
//! over the shortest round-trip digits (spec metrics-alarms.md Appendix B).

/// `0.0`, `512.0`, `0.004`, `1.0E7`, `1.5E-4`, `-2.5`.
pub fn java_double(x: f64) -> String {
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".to_owned() } else { "0.0".to_owned() };
    }
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".to_owned()
        } else if x > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e3", "5e-4".
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x < 0.0 { "-" } else { "" };
    let abs = x.abs();
    if (1e-3..1e7).contains(&abs) {
        let point = exponent + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let fraction = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{sign}{}.{fraction}E{exponent}", &digits[..1])
    }
}

#[cfg(test)]
mod tests {
    use super::java_double;

    #[test]
    fn appendix_b_vectors() {
        for (x, text) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (512.0, "512.0"),
            (0.004, "0.004"),
            (79.999, "79.999"),
            (123456.789, "123456.789"),
            (3.4666088898518357, "3.4666088898518357"),
            (-2.5, "-2.5"),
            (1.0e7, "1.0E7"),
            (1.5e-4, "1.5E-4"),
            (2.5e10, "2.5E10"),
            (-1.0e-5, "-1.0E-5"),
            (0.001, "0.001"),
            (9999999.0, "9999999.0"),
            (16.666666666666668, "16.666666666666668"),
        ] {
            assert_eq!(java_double(x), text, "{x}");
        }
    }
}
