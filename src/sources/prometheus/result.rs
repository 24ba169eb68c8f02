//! What a query returned: samples, series, or a scalar or string.

use std::collections::BTreeMap;

/// One value of an instant query (a scalar has no labels).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub ts: f64,
    pub value: f64,
}

/// One series of a range query.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// (unix seconds, value), oldest first.
    pub points: Vec<(f64, f64)>,
}

/// What `/api/v1/query*` returned, by `resultType`.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
    Scalar(Sample),
    /// (unix seconds, text)
    String(f64, String),
}

impl QueryResult {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            QueryResult::Vector(_) => "vector",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Scalar(_) => "scalar",
            QueryResult::String(..) => "string",
        }
    }
}
