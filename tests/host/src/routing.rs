//! Spin's HTTP routing: exact routes, trailing `/...` wildcards and `:name` segments; an exact
//! match wins over any wildcard, and among wildcards the longest prefix wins.

use crate::manifest::Route;

/// A route that matched a request path, with what Spin reports about the match.
#[derive(Debug, Clone)]
pub struct Matched<'a> {
    pub route: &'a Route,
    /// The route without its trailing `/...` (Spin's `spin-component-route`).
    pub component_route: String,
    /// The part of the path after the matched prefix (Spin's `spin-path-info`).
    pub path_info: String,
    /// Values of `:name` segments (Spin's `spin-path-match-<name>` headers).
    pub params: Vec<(String, String)>,
}

pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Self {
        Router { routes }
    }

    pub fn route(&self, path: &str) -> Option<Matched<'_>> {
        let path_segments = segments(path);
        let mut best: Option<(usize, bool, Matched<'_>)> = None;
        for route in &self.routes {
            let (prefix, wildcard) = match route.pattern.strip_suffix("/...") {
                Some(p) => (p, true),
                None if route.pattern == "/..." => ("", true),
                None => (route.pattern.as_str(), false),
            };
            let route_segments = segments(prefix);
            if route_segments.len() > path_segments.len() || (!wildcard && route_segments.len() != path_segments.len())
            {
                continue;
            }
            let mut params = Vec::new();
            let fits = route_segments
                .iter()
                .zip(&path_segments)
                .all(|(r, p)| match r.strip_prefix(':') {
                    Some(name) => {
                        params.push((name.to_owned(), (*p).to_owned()));
                        true
                    }
                    None => r == p,
                });
            if !fits {
                continue;
            }
            let rest = &path_segments[route_segments.len()..];
            let path_info = if rest.is_empty() {
                String::new()
            } else {
                format!("/{}", rest.join("/"))
            };
            // Exact routes beat wildcards; then more literal segments beat fewer.
            let rank = (route_segments.len(), !wildcard);
            let better = match &best {
                None => true,
                Some((len, exact, _)) => rank > (*len, *exact),
            };
            if better {
                let component_route = if prefix.is_empty() {
                    String::new()
                } else {
                    prefix.to_owned()
                };
                best = Some((
                    rank.0,
                    rank.1,
                    Matched {
                        route,
                        component_route,
                        path_info,
                        params,
                    },
                ));
            }
        }
        best.map(|(_, _, m)| m)
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(patterns: &[&str]) -> Router {
        Router::new(
            patterns
                .iter()
                .map(|p| Route {
                    pattern: (*p).to_owned(),
                    component: (*p).to_owned(),
                })
                .collect(),
        )
    }

    fn target(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.route.pattern.clone())
    }

    #[test]
    fn exact_routes_match_only_themselves() {
        let r = router(&["/mcp", "/sse", "/sse/message"]);
        assert_eq!(target(&r, "/mcp").as_deref(), Some("/mcp"));
        assert_eq!(target(&r, "/sse/message").as_deref(), Some("/sse/message"));
        assert_eq!(target(&r, "/mcp/x"), None);
        assert_eq!(target(&r, "/"), None);
    }

    #[test]
    fn wildcards_match_their_root_and_below_longest_prefix_wins() {
        let r = router(&["/...", "/.well-known/oauth-protected-resource/...", "/api/..."]);
        let m = r.route("/.well-known/oauth-protected-resource/mcp").unwrap();
        assert_eq!(m.route.pattern, "/.well-known/oauth-protected-resource/...");
        assert_eq!(m.path_info, "/mcp");
        assert_eq!(m.component_route, "/.well-known/oauth-protected-resource");
        assert_eq!(r.route("/.well-known/oauth-protected-resource").unwrap().path_info, "");
        assert_eq!(target(&r, "/api").as_deref(), Some("/api/..."));
        assert_eq!(target(&r, "/apix").as_deref(), Some("/..."));
        assert_eq!(r.route("/anything/else").unwrap().path_info, "/anything/else");
    }

    #[test]
    fn exact_beats_wildcard_of_same_length() {
        let r = router(&["/sse/...", "/sse"]);
        assert_eq!(target(&r, "/sse").as_deref(), Some("/sse"));
        assert_eq!(target(&r, "/sse/message").as_deref(), Some("/sse/..."));
    }

    #[test]
    fn named_segments_are_captured() {
        let r = router(&["/k/:app/records/..."]);
        let m = r.route("/k/12/records/x").unwrap();
        assert_eq!(m.params, vec![("app".to_owned(), "12".to_owned())]);
        assert_eq!(m.path_info, "/x");
    }
}
