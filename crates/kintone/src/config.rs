//! Which tools are offered: read-only mode and allow/deny lists, read from Spin variables.

use crate::catalogue::TOOLS;
use crate::types::Tool;

/// The tool policy of one deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolConfig {
    /// Hide every tool that writes.
    pub read_only: bool,
    /// When set, only these tools are offered.
    pub allow: Option<Vec<String>>,
    /// These tools are never offered (deny wins over allow).
    pub deny: Vec<String>,
}

/// A configuration value that cannot be used; the deployment must fix its variables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: expected true or false, got {value:?}")]
    NotABool { variable: &'static str, value: String },
    #[error("{variable}: unknown tool name {name:?}; known tools: {known}")]
    UnknownTool {
        variable: &'static str,
        name: String,
        known: String,
    },
}

impl ToolConfig {
    /// Builds the policy from the raw values of the Spin variables `read_only`, `tools_allow`
    /// and `tools_deny` (`None` or blank = not set). Lists are comma-separated tool names;
    /// whitespace around names is ignored. Errors name the variable to fix.
    pub fn from_variables(
        read_only: Option<&str>,
        allow: Option<&str>,
        deny: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let read_only = match read_only.map(str::trim).filter(|v| !v.is_empty()) {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| ConfigError::NotABool {
                variable: "read_only",
                value: v.to_string(),
            })?,
        };
        let allow = match allow.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(parse_names("tools_allow", v)?),
        };
        let deny = match deny.map(str::trim).filter(|v| !v.is_empty()) {
            None => Vec::new(),
            Some(v) => parse_names("tools_deny", v)?,
        };
        Ok(ToolConfig { read_only, allow, deny })
    }

    /// Whether this tool is offered under the policy.
    pub fn offers(&self, spec: &Tool) -> bool {
        if self.read_only && !spec.annotations.read_only {
            return false;
        }
        if let Some(allow) = &self.allow {
            if !allow.iter().any(|n| n == spec.name) {
                return false;
            }
        }
        !self.deny.iter().any(|n| n == spec.name)
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_names(variable: &'static str, list: &str) -> Result<Vec<String>, ConfigError> {
    let known: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
    list.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| {
            if known.contains(&name) {
                Ok(name.to_string())
            } else {
                Err(ConfigError::UnknownTool {
                    variable,
                    name: name.to_string(),
                    known: known.join(", "),
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list_tools;

    #[test]
    fn unset_variables_offer_every_tool() {
        let config = ToolConfig::from_variables(None, Some("  "), Some("")).unwrap();
        assert_eq!(config, ToolConfig::default());
        assert_eq!(list_tools(&config).count(), TOOLS.len());
    }

    #[test]
    fn read_only_hides_every_writing_tool() {
        let config = ToolConfig::from_variables(Some("TRUE"), None, None).unwrap();
        let listed: Vec<_> = list_tools(&config).collect();
        assert!(listed.iter().all(|t| t.annotations.read_only));
        let names: Vec<_> = listed.iter().map(|t| t.name).collect();
        assert!(names.contains(&"getRecords"));
        assert!(!names.contains(&"addRecord"));
        assert!(!names.contains(&"deleteRecords"));
        assert!(!names.contains(&"uploadFile"));
        assert!(names.contains(&"downloadFile"));
    }

    #[test]
    fn allow_list_offers_only_named_tools_and_deny_wins() {
        let config =
            ToolConfig::from_variables(Some("no"), Some("getRecords, getRecord ,addRecord"), Some("addRecord"))
                .unwrap();
        let names: Vec<_> = list_tools(&config).map(|t| t.name).collect();
        assert_eq!(names, vec!["getRecords", "getRecord"]);
    }

    #[test]
    fn deny_list_hides_named_tools() {
        let config = ToolConfig::from_variables(None, None, Some("deleteRecords,deleteRecordComment")).unwrap();
        let names: Vec<_> = list_tools(&config).map(|t| t.name).collect();
        assert!(!names.contains(&"deleteRecords"));
        assert!(!names.contains(&"deleteRecordComment"));
        assert_eq!(names.len(), TOOLS.len() - 2);
    }

    #[test]
    fn bad_bool_is_a_clear_error() {
        let err = ToolConfig::from_variables(Some("maybe"), None, None).unwrap_err();
        assert_eq!(
            err,
            ConfigError::NotABool {
                variable: "read_only",
                value: "maybe".into()
            }
        );
        assert!(err.to_string().contains("expected true or false"));
    }

    #[test]
    fn unknown_tool_names_are_refused_with_the_known_list() {
        let err = ToolConfig::from_variables(None, Some("getRecords,getRecordz"), None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("tools_allow: unknown tool name \"getRecordz\""), "{text}");
        assert!(text.contains("getRecords"));
        let err = ToolConfig::from_variables(None, None, Some("nope")).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::UnknownTool {
                variable: "tools_deny",
                ..
            }
        ));
    }
}
