//! Application variables (`[variables]`) resolved once at start-up, as Spin does: the
//! `SPIN_VARIABLE_<NAME>` environment variable, then `--variable name=value`, then the default.
//! Component variables and `allowed_outbound_hosts` are `{{ name }}` templates over them.

use crate::manifest::Variable;
use anyhow::{anyhow, bail, Result};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct Resolved {
    values: BTreeMap<String, String>,
}

impl Resolved {
    /// Resolves every application variable; a required variable without a value is a start-up
    /// error naming all of them, like Spin's "no provider resolved required variable(s)".
    pub fn resolve(
        declared: &BTreeMap<String, Variable>,
        env: impl Fn(&str) -> Option<String>,
        cli: &BTreeMap<String, String>,
    ) -> Result<Resolved> {
        for name in cli.keys() {
            if !declared.contains_key(name) {
                bail!("--variable {name}: no such application variable in the manifest");
            }
        }
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, var) in declared {
            let from_env = env(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()));
            match from_env
                .or_else(|| cli.get(name).cloned())
                .or_else(|| var.default.clone())
            {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            let hint: Vec<String> = missing
                .iter()
                .map(|n| format!("SPIN_VARIABLE_{}", n.to_ascii_uppercase()))
                .collect();
            bail!(
                "no provider resolved required variable(s): {missing:?}; set {} or pass --variable NAME=VALUE",
                hint.join(", ")
            );
        }
        Ok(Resolved { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Expands `{{ name }}` templates; an unknown name is an error (Spin validates these too).
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| anyhow!("unclosed `{{{{` in `{template}`"))?;
            let name = after[..end].trim();
            let value = self
                .get(name)
                .ok_or_else(|| anyhow!("template `{template}` refers to undeclared variable `{name}`"))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> BTreeMap<String, Variable> {
        let var = |default: Option<&str>, required| Variable {
            default: default.map(str::to_owned),
            required,
            secret: false,
            description: None,
        };
        BTreeMap::from([
            ("kintone_base_url".to_owned(), var(None, true)),
            ("public_url".to_owned(), var(Some(""), false)),
            ("mode".to_owned(), var(Some("a"), false)),
        ])
    }

    #[test]
    fn environment_beats_cli_beats_default() {
        let env = |k: &str| (k == "SPIN_VARIABLE_KINTONE_BASE_URL").then(|| "http://env".to_owned());
        let cli = BTreeMap::from([
            ("kintone_base_url".to_owned(), "http://cli".to_owned()),
            ("mode".to_owned(), "b".to_owned()),
        ]);
        let r = Resolved::resolve(&declared(), env, &cli).unwrap();
        assert_eq!(r.get("kintone_base_url"), Some("http://env"));
        assert_eq!(r.get("mode"), Some("b"));
        assert_eq!(r.get("public_url"), Some(""));
    }

    #[test]
    fn missing_required_variable_is_a_clear_error() {
        let err = Resolved::resolve(&declared(), |_| None, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no provider resolved required variable(s)"), "{err}");
        assert!(err.contains("SPIN_VARIABLE_KINTONE_BASE_URL"), "{err}");
    }

    #[test]
    fn unknown_cli_variable_is_refused() {
        let cli = BTreeMap::from([("nope".to_owned(), "x".to_owned())]);
        assert!(Resolved::resolve(&declared(), |_| Some("x".into()), &cli).is_err());
    }

    #[test]
    fn templates_expand_and_unknown_names_fail() {
        let r = Resolved::resolve(
            &declared(),
            |_| Some("https://example.cybozu.com".into()),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            r.expand("{{ kintone_base_url }}").unwrap(),
            "https://example.cybozu.com"
        );
        assert_eq!(
            r.expand("x{{mode}}y{{ mode }}").unwrap(),
            "xhttps://example.cybozu.comyhttps://example.cybozu.com"
        );
        assert!(r.expand("{{ nope }}").is_err());
        assert!(r.expand("{{ mode").is_err());
    }
}
