//! The object store of the fake: objects keyed by (group/version, plural,
//! namespace, name), one global `resourceVersion` counter, a bounded event
//! history for watches, fixture loading and the patch formats.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

use serde_json::{Map, Value};
use tokio::sync::broadcast;

/// Where an object lives. `namespace` is `""` for cluster-scoped objects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    /// `v1` or `argoproj.io/v1alpha1`.
    pub gv: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(gv: &str, plural: &str, namespace: &str, name: &str) -> ObjKey {
        ObjKey {
            gv: gv.into(),
            plural: plural.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// One change, as a watch sends it.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub key: ObjKey,
    pub object: Value,
}

impl Event {
    pub fn to_json(&self) -> Value {
        serde_json::json!({"type": self.kind, "object": self.object})
    }
}

/// What a list or watch selects.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub gv: String,
    pub plural: String,
    /// `None`: all namespaces.
    pub namespace: Option<String>,
    /// `(key, Some(value), equal)`, or `(key, None, exists)`.
    pub labels: Vec<(String, Option<String>, bool)>,
    /// `metadata.name` / `metadata.namespace` equalities.
    pub fields: Vec<(String, String, bool)>,
}

impl Filter {
    pub fn matches(&self, key: &ObjKey, obj: &Value) -> bool {
        if key.gv != self.gv || key.plural != self.plural {
            return false;
        }
        if self
            .namespace
            .as_ref()
            .is_some_and(|ns| *ns != key.namespace)
        {
            return false;
        }
        let labels = obj.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|(k, v, eq)| match v {
            Some(v) => (label(k) == Some(v.as_str())) == *eq,
            None => label(k).is_some() == *eq,
        });
        let fields_ok = self.fields.iter().all(|(f, v, eq)| {
            let actual = match f.as_str() {
                "metadata.name" => key.name.as_str(),
                "metadata.namespace" => key.namespace.as_str(),
                _ => return false,
            };
            (actual == v) == *eq
        });
        labels_ok && fields_ok
    }
}

/// Parse `a=b,c==d,e!=f,g,!h` (equality-based selectors only).
pub fn parse_label_selector(s: &str) -> Result<Vec<(String, Option<String>, bool)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((k, v)) = part.split_once("!=") {
            out.push((k.trim().into(), Some(v.trim().into()), false));
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            out.push((k.trim().into(), Some(v.trim().into()), true));
        } else if let Some(k) = part.strip_prefix('!') {
            out.push((k.trim().into(), None, false));
        } else if part.contains([' ', '(']) {
            return Err(format!("unable to parse requirement: {part}"));
        } else {
            out.push((part.into(), None, true));
        }
    }
    Ok(out)
}

pub struct Store {
    pub objects: BTreeMap<ObjKey, Value>,
    pub rv: u64,
    pub history: VecDeque<Event>,
    /// The oldest resourceVersion a watch may start from.
    pub floor: u64,
    pub max_history: usize,
    pub tx: broadcast::Sender<Event>,
}

impl Store {
    pub fn new() -> Store {
        let (tx, _) = broadcast::channel(4096);
        Store {
            objects: BTreeMap::new(),
            rv: 0,
            history: VecDeque::new(),
            floor: 0,
            max_history: 100,
            tx,
        }
    }

    fn record(&mut self, kind: &'static str, key: ObjKey, object: Value) {
        let ev = Event {
            rv: self.rv,
            kind,
            key,
            object,
        };
        self.history.push_back(ev.clone());
        while self.history.len() > self.max_history {
            if let Some(old) = self.history.pop_front() {
                self.floor = old.rv;
            }
        }
        let _ = self.tx.send(ev);
    }

    /// Store `obj` under `key` with a fresh resourceVersion; ADDED or
    /// MODIFIED goes to watchers. Returns the stored object.
    pub fn put(&mut self, key: ObjKey, mut obj: Value) -> Value {
        // As the apiserver: an object being deleted goes once its last
        // finalizer is removed.
        if obj["metadata"].get("deletionTimestamp").is_some() && !has_finalizers(&obj) {
            self.objects.insert(key.clone(), obj.clone());
            return self.delete(&key).unwrap_or(obj);
        }
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        let kind = if self.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.objects.insert(key.clone(), obj.clone());
        self.record(kind, key, obj.clone());
        obj
    }

    /// A DELETE request: an object with finalizers only gets its
    /// `deletionTimestamp` (MODIFIED) and stays until they are removed.
    pub fn request_delete(&mut self, key: &ObjKey) -> Option<Value> {
        let obj = self.objects.get(key)?.clone();
        if !has_finalizers(&obj) {
            return self.delete(key);
        }
        if obj["metadata"].get("deletionTimestamp").is_some() {
            return Some(obj);
        }
        let mut marked = obj;
        marked["metadata"]["deletionTimestamp"] = Value::from("2026-12-07T00:00:00Z");
        Some(self.put(key.clone(), marked))
    }

    pub fn delete(&mut self, key: &ObjKey) -> Option<Value> {
        let mut obj = self.objects.remove(key)?;
        self.rv += 1;
        set_rv(&mut obj, self.rv);
        self.record("DELETED", key.clone(), obj.clone());
        Some(obj)
    }

    /// Forget all history: a watch must then start from now.
    pub fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }

    /// Events after `from` that match, or `Err(floor)` when `from` is older
    /// than the history kept.
    pub fn since(&self, from: u64, filter: &Filter) -> Result<Vec<Event>, u64> {
        if from < self.floor {
            return Err(self.floor);
        }
        Ok(self
            .history
            .iter()
            .filter(|e| e.rv > from && filter.matches(&e.key, &e.object))
            .cloned()
            .collect())
    }

    pub fn list(&self, filter: &Filter) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(k, o)| filter.matches(k, o))
            .map(|(_, o)| o.clone())
            .collect()
    }
}

pub fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(o) = obj.as_object_mut() {
        let meta = o
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(m) = meta.as_object_mut() {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
    }
}

/// `../shared/fixtures/kubernetes` from the crate root.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/kubernetes")
}

/// Read a fixture (`argo-rollouts/rollout-healthy-completed.yaml`) into a
/// JSON value: YAML through serde-saphyr (plain scalars that are not
/// numbers, booleans or null stay strings, so unquoted timestamps keep
/// their text), JSON through serde_json.
pub fn read_fixture(rel: &str) -> Value {
    let path = fixtures_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fake kube: read fixture {}: {e}", path.display()));
    parse_document(rel, &text).unwrap_or_else(|e| panic!("fake kube: {e}"))
}

pub fn parse_document(name: &str, text: &str) -> Result<Value, String> {
    if name.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| format!("parse {name}: {e}"))
    } else {
        serde_saphyr::from_str::<Value>(text).map_err(|e| format!("parse {name}: {e}"))
    }
}

/// Fixture files that hold one object the store can serve (not Status
/// bodies, discovery documents or lists), sorted.
pub fn object_fixtures() -> Vec<String> {
    let mut out = Vec::new();
    for dir in ["argo-cd", "argo-rollouts", "chaos-mesh", "core"] {
        let Ok(rd) = std::fs::read_dir(fixtures_dir().join(dir)) else {
            continue;
        };
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let skip = name.starts_with("status-")
                || name.starts_with("discovery-")
                || name.contains("-list");
            if !skip && (name.ends_with(".yaml") || name.ends_with(".json")) {
                out.push(format!("{dir}/{name}"));
            }
        }
    }
    out.sort();
    out
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The parent of a JSON pointer and its last token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let (head, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    let parent = if head.is_empty() {
        doc
    } else {
        doc.pointer_mut(head)
            .ok_or_else(|| format!("doc is missing path: \"{path}\": missing value"))?
    };
    Ok((parent, unescape(last)))
}

fn index(arr: &[Value], token: &str, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(arr.len());
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("invalid array index {token:?}"))?;
    let max = if allow_end {
        arr.len()
    } else {
        arr.len().saturating_sub(1)
    };
    if i > max || (!allow_end && arr.is_empty()) {
        return Err(format!("array index {i} out of bounds"));
    }
    Ok(i)
}

/// A subset of RFC 6902: `add`, `replace`, `remove` and `test`.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("json patch must be an array")?;
    for op in ops {
        let name = op.get("op").and_then(Value::as_str).ok_or("op missing")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("path missing")?;
        let value = op.get("value").cloned();
        match name {
            "test" => {
                if doc.pointer(path) != value.as_ref() {
                    return Err(format!("testing value {path} failed"));
                }
            }
            "add" | "replace" => {
                let value = value.ok_or_else(|| format!("{name} operation has no value"))?;
                if path.is_empty() {
                    *doc = value;
                    continue;
                }
                let (parent, token) = parent(doc, path)?;
                match parent {
                    Value::Object(m) => {
                        if name == "replace" && !m.contains_key(&token) {
                            return Err(format!(
                                "replace operation does not apply: doc is missing key: {path}"
                            ));
                        }
                        m.insert(token, value);
                    }
                    Value::Array(a) if name == "add" => {
                        let i = index(a, &token, true)?;
                        a.insert(i, value);
                    }
                    Value::Array(a) => {
                        let i = index(a, &token, false)?;
                        a[i] = value;
                    }
                    _ => return Err(format!("cannot {name} at {path}")),
                }
            }
            "remove" => {
                let (parent, token) = parent(doc, path)?;
                match parent {
                    Value::Object(m) => {
                        m.remove(&token).ok_or_else(|| {
                            format!("remove operation does not apply: doc is missing path: {path}")
                        })?;
                    }
                    Value::Array(a) => {
                        let i = index(a, &token, false)?;
                        a.remove(i);
                    }
                    _ => return Err(format!("cannot remove at {path}")),
                }
            }
            other => return Err(format!("unsupported json patch op {other:?}")),
        }
    }
    Ok(())
}

/// `metadata.finalizers`, or for a Namespace also `spec.finalizers` (the
/// namespace controller's `kubernetes`).
fn has_finalizers(obj: &Value) -> bool {
    let any = |v: &Value| v.as_array().is_some_and(|f| !f.is_empty());
    any(&obj["metadata"]["finalizers"])
        || (obj["kind"] == "Namespace" && any(&obj["spec"]["finalizers"]))
}
