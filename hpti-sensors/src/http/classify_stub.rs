//! Temporary stand-in until classify.rs lands.
/// One request.
pub struct RequestParts<'a> {
    /// Method.
    pub method: &'a str,
    /// Target.
    pub target: &'a str,
    /// Headers.
    pub headers: &'a [(String, String)],
    /// Body.
    pub body: &'a [u8],
}
/// Classifier.
pub struct Classifier;
impl Classifier {
    /// Builtin.
    pub fn builtin() -> Self {
        Self
    }
    /// Classify.
    pub fn classify(&self, _: &RequestParts<'_>) -> Vec<&str> {
        Vec::new()
    }
}
