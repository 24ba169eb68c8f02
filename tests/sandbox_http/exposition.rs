//! A strict parser for the Prometheus text exposition format, to read
//! what `/metrics` serves.

use super::*;

/// One sample of the exposition format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// Strict parser for the text exposition format: every non-comment line must
/// be `name{k="v",...} value` (labels optional), with escaped label values.
pub(crate) fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            assert!(
                rest.starts_with("HELP ") || rest.starts_with("TYPE "),
                "bad comment line: {line}"
            );
            continue;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        let mut name = String::new();
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
        {
            name.push(chars[i]);
            i += 1;
        }
        assert!(
            !name.is_empty() && !name.chars().next().unwrap().is_ascii_digit(),
            "bad metric name in: {line}"
        );
        let mut labels = BTreeMap::new();
        if i < chars.len() && chars[i] == '{' {
            i += 1;
            loop {
                if chars[i] == '}' {
                    i += 1;
                    break;
                }
                let mut key = String::new();
                while chars[i] != '=' {
                    assert!(
                        chars[i].is_ascii_alphanumeric() || chars[i] == '_',
                        "bad label name in: {line}"
                    );
                    key.push(chars[i]);
                    i += 1;
                }
                i += 1;
                assert_eq!(chars[i], '"', "label value must be quoted: {line}");
                i += 1;
                let mut value = String::new();
                loop {
                    match chars[i] {
                        '\\' => {
                            i += 1;
                            value.push(match chars[i] {
                                'n' => '\n',
                                '\\' => '\\',
                                '"' => '"',
                                c => panic!("bad escape \\{c} in: {line}"),
                            });
                        }
                        '"' => break,
                        '\n' => panic!("raw newline in label: {line}"),
                        c => value.push(c),
                    }
                    i += 1;
                }
                i += 1;
                labels.insert(key, value);
                if chars[i] == ',' {
                    i += 1;
                }
            }
        }
        assert_eq!(
            chars.get(i),
            Some(&' '),
            "expected a space before the value: {line}"
        );
        let v: String = chars[i + 1..].iter().collect();
        let value = match v.as_str() {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            s => s
                .parse()
                .unwrap_or_else(|_| panic!("bad value {s:?} in: {line}")),
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

pub(crate) fn find(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}
