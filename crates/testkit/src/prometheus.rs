//! Reading a value out of a Prometheus text exposition (what `/metrics` serves, or what a
//! `metrics-exporter-prometheus` recorder renders), for tests that check counters and histograms.

/// The value of the sample `name{labels…}` in `text` (Prometheus text format 0.0.4), or `None`.
///
/// A sample matches when its metric name is exactly `name` and every `(key, value)` of `labels` is
/// one of its labels (other labels may be present). The first matching sample wins. Label values
/// with escaped quotes are compared as written (`\"`).
///
/// ```
/// use chatport_testkit::prometheus::value;
///
/// let text = "# TYPE hits counter\n\
///             hits{connector=\"whatsapp\",class=\"ok\"} 3\n\
///             hits{connector=\"whatsapp\",class=\"transient\"} 1\n";
/// assert_eq!(value(text, "hits", &[("class", "ok")]), Some(3.0));
/// assert_eq!(value(text, "hits", &[("class", "auth")]), None);
/// assert_eq!(value(text, "hit", &[]), None);
/// ```
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (label_set, sample) = match rest.strip_prefix('{') {
                Some(inner) => {
                    let end = inner.rfind('}')?;
                    (&inner[..end], &inner[end + 1..])
                }
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            let present = |(key, value): &(&str, &str)| {
                label_set
                    .split(',')
                    .any(|pair| pair == format!("{key}=\"{value}\""))
            };
            if !labels.iter().all(present) {
                return None;
            }
            sample.split_whitespace().next()?.parse().ok()
        })
}
