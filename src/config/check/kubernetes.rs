//! `kubernetes:`: each `addresses` entry names an environment of the
//! config and is a `host:port` this machine can send requests to;
//! `ephemeral_ttl` is a TTL (1m to 30d).

use super::{host_port, Checker, S};
use crate::config::Config;
use crate::domain::sanitize::strip_all;

impl Config {
    pub(super) fn check_kubernetes(&self, v: &mut Checker) {
        let ttl = &self.kubernetes.ephemeral_ttl;
        if let Err(why) = crate::domain::duration::parse_ttl(ttl) {
            v.push(&[S::K("kubernetes"), S::K("ephemeral_ttl")], why);
        }
        for (env, addr) in &self.kubernetes.addresses {
            let at = [S::K("kubernetes"), S::K("addresses"), S::K(env)];
            if self.environment(env).is_none() {
                let known: Vec<&str> = self.environments.iter().map(|e| e.name.as_str()).collect();
                v.push(
                    &at,
                    format!(
                        "`{}` is not an environment of this config (known: {})",
                        strip_all(env),
                        known.join(", ")
                    ),
                );
            }
            if addr.trim().is_empty() {
                v.push(
                    &at,
                    "must not be empty: give `host:port`, or leave the environment out".into(),
                );
            } else if let Err(why) = host_port(addr) {
                v.push(&at, format!("`{}` {why}", strip_all(addr)));
            }
        }
    }
}

#[cfg(test)]
mod tests;
