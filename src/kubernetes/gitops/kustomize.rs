//! The `images:` field of a kustomization.yaml, read and edited as text so
//! that everything else (comments, quoting, order, blank lines) stays as
//! the author wrote it. Only the block style is handled:
//!
//! ```yaml
//! images:
//!   - name: ghcr.io/acme/orders   # the service
//!     newTag: v1.4.2
//! ```
//!
//! A flow-style list, a pinned `digest` or a missing entry is refused.
//! After an edit the text is parsed again to check it says what was meant.

use serde_json::Value;

use crate::kubernetes::fields::clean;

/// Why the tag could not be read or written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KustomizeError {
    #[error("it has no `images:` field")]
    NoImages,
    #[error("its `images:` is written in flow style ([...]); write it as a block list to let blissful-infra edit it")]
    FlowStyle,
    #[error("its `images:` has no entry named {image} (entries: {known})")]
    NoEntry { image: String, known: String },
    #[error("the entry {image} pins a digest; remove `digest:` to deploy by tag")]
    Digest { image: String },
    #[error("the entry {image} has no newTag")]
    NoTag { image: String },
    #[error("\"{0}\" is not an image tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)")]
    BadTag(String),
    #[error("the edited file does not read back as intended: {0}")]
    Verify(String),
}

/// One `- name: …` entry: where its lines are and what they say.
#[derive(Debug)]
struct Entry {
    /// Index of the line holding `name:`.
    name_line: usize,
    /// Indentation of the entry's keys.
    key_indent: usize,
    name: String,
    /// Line index of `newTag:`, if any.
    tag_line: Option<usize>,
    digest: bool,
}

/// A plain or quoted scalar without its trailing comment.
fn scalar(s: &str) -> String {
    let s = s.trim_start();
    for q in ['"', '\''] {
        if let Some(rest) = s.strip_prefix(q) {
            return rest.split(q).next().unwrap_or_default().to_string();
        }
    }
    let end = s.find(" #").unwrap_or(s.len());
    s[..end].trim().to_string()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// `key: value` on a line (after an optional `- `); the key and the value.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let t = line.trim_start().trim_start_matches("- ").trim_start();
    let (k, v) = t.split_once(':')?;
    Some((k.trim(), v))
}

fn entries(lines: &[&str]) -> Result<Vec<Entry>, KustomizeError> {
    let start = lines
        .iter()
        .position(|l| indent(l) == 0 && key_value(l).is_some_and(|(k, _)| k == "images"))
        .ok_or(KustomizeError::NoImages)?;
    let rest = key_value(lines[start])
        .map(|(_, v)| scalar(v))
        .unwrap_or_default();
    if rest.starts_with('[') {
        return Err(KustomizeError::FlowStyle);
    }
    let mut out: Vec<Entry> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        if is_blank_or_comment(line) {
            continue;
        }
        let trimmed = line.trim_start();
        if indent(line) == 0 && !trimmed.starts_with('-') {
            break;
        }
        if let Some(after) = trimmed.strip_prefix("- ") {
            let key_indent = indent(line) + 2 + (after.len() - after.trim_start().len());
            out.push(Entry {
                name_line: i,
                key_indent,
                name: String::new(),
                tag_line: None,
                digest: false,
            });
        }
        let (Some(entry), Some((k, v))) = (out.last_mut(), key_value(line)) else {
            continue;
        };
        match k {
            "name" => {
                entry.name = scalar(v);
                entry.name_line = i;
            }
            "newTag" => entry.tag_line = Some(i),
            "digest" => entry.digest = true,
            _ => {}
        }
    }
    Ok(out)
}

fn find<'a>(list: &'a [Entry], image: &str) -> Result<&'a Entry, KustomizeError> {
    list.iter()
        .find(|e| e.name == image)
        .ok_or_else(|| KustomizeError::NoEntry {
            image: clean(image),
            known: if list.is_empty() {
                "none".to_string()
            } else {
                // The file is text from a repository: cleaned before display.
                list.iter()
                    .map(|e| clean(&e.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}

/// The `newTag` of `image` in a kustomization's text (`None`: the entry
/// sets no tag).
pub fn image_tag(text: &str, image: &str) -> Result<Option<String>, KustomizeError> {
    let lines: Vec<&str> = text.lines().collect();
    let list = entries(&lines)?;
    let e = find(&list, image)?;
    Ok(e.tag_line
        .and_then(|i| key_value(lines[i]).map(|(_, v)| scalar(v))))
}

/// A tag as a registry accepts it (and safe to write into YAML).
pub fn check_tag(tag: &str) -> Result<(), KustomizeError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(KustomizeError::BadTag(clean(tag)))
    }
}

/// The tag as YAML: quoted when a plain scalar might read as a number,
/// date, boolean or null (it starts with a digit, or is such a word), or
/// when the old value was quoted.
fn render(tag: &str, old_value: Option<&str>) -> String {
    let old = old_value.map(str::trim_start).unwrap_or_default();
    let looks_typed = tag.starts_with(|c: char| c.is_ascii_digit())
        || matches!(
            tag.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
        );
    if old.starts_with('\'') {
        format!("'{tag}'")
    } else if old.starts_with('"') || looks_typed {
        format!("\"{tag}\"")
    } else {
        tag.to_string()
    }
}

/// `key: value  # comment` with the value replaced by `tag`, the spacing,
/// the comment and the line ending kept.
fn replace_value(line: &str, tag: &str) -> String {
    let Some(colon) = line.find(':').map(|c| c + 1) else {
        return line.to_string();
    };
    let value = &line[colon..];
    let lead_len = value.len() - value.trim_start_matches([' ', '\t']).len();
    let (lead, body) = value.split_at(lead_len);
    let end = match body.chars().next() {
        Some(q @ ('"' | '\'')) => body[1..].find(q).map_or(body.len(), |p| p + 2),
        _ => {
            let stop = body
                .find(" #")
                .or_else(|| body.find(['\r', '\n']))
                .unwrap_or(body.len());
            body[..stop].trim_end().len()
        }
    };
    let lead = if lead.is_empty() { " " } else { lead };
    format!(
        "{}{lead}{}{}",
        &line[..colon],
        render(tag, Some(body)),
        &body[end..]
    )
}

/// Set `newTag` of `image` to `tag`; returns the new text and the old tag.
pub fn set_image_tag(
    text: &str,
    image: &str,
    tag: &str,
) -> Result<(String, Option<String>), KustomizeError> {
    check_tag(tag)?;
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    let plain: Vec<&str> = text.lines().collect();
    let list = entries(&plain)?;
    let e = find(&list, image)?;
    if e.digest {
        return Err(KustomizeError::Digest {
            image: clean(image),
        });
    }
    let old = image_tag(text, image)?;
    match e.tag_line {
        Some(i) => lines[i] = replace_value(&lines[i], tag),
        None => {
            let ending = if lines[e.name_line].ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            if !lines[e.name_line].ends_with('\n') {
                lines[e.name_line].push_str(ending);
            }
            let new = format!(
                "{}newTag: {}{ending}",
                " ".repeat(e.key_indent),
                render(tag, None)
            );
            lines.insert(e.name_line + 1, new);
        }
    }
    let out: String = lines.concat();
    verify(&out, image, tag)?;
    Ok((out, old))
}

/// The edited text parses and its entry for `image` has `newTag: tag`.
fn verify(text: &str, image: &str, tag: &str) -> Result<(), KustomizeError> {
    let doc: Value =
        serde_saphyr::from_str(text).map_err(|e| KustomizeError::Verify(e.to_string()))?;
    let images = doc
        .get("images")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let entry = images
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(image));
    match entry.and_then(|e| e.get("newTag")) {
        Some(Value::String(t)) if t == tag => Ok(()),
        other => Err(KustomizeError::Verify(format!(
            "newTag of {image} reads {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests;
