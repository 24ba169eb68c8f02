//! Instances and routing: start and stop the supervised processes of a
//! version and keep the router's backends and split in step with them.

use std::sync::Arc;

use super::core::Engine;
use super::state::Instance;
use crate::domain::environment::{InstanceDetail, InstancePhase, InstanceStatus, Version};
use crate::sandbox::supervisor::{spawn_instance, InstanceSpec, InstanceUpdate, Launch};

impl Engine {
    pub(super) fn launch_for(&self, v: &Version) -> Launch {
        let svc = &self.cfg.service;
        if svc.command.trim().is_empty() {
            Launch::Sample {
                program: self.opts.service_program.clone(),
                behaviour: svc.versions.get(v.as_str()).cloned().unwrap_or_default(),
            }
        } else {
            let workdir = svc
                .versions
                .get(v.as_str())
                .map(|b| b.workdir.as_str())
                .filter(|w| !w.is_empty())
                .unwrap_or(&svc.workdir);
            Launch::Shell {
                command: svc.command.clone(),
                cwd: self.opts.config_dir.join(workdir),
            }
        }
    }

    /// Start `replicas` instances of `v` unless it already runs.
    pub(super) fn start_version(&mut self, i: usize, v: &Version) {
        if self.envs[i].has_version(v) {
            return;
        }
        for n in 1..=self.envs[i].cfg.replicas {
            let id = format!("{}-{v}-{n}", self.envs[i].name);
            self.spawn_one(i, v, id);
        }
    }

    /// Start one more instance of `v` (a restart's replacement); its token.
    pub(super) fn start_one(&mut self, i: usize, v: &Version) -> u64 {
        let id = format!("{}-{v}-r{}", self.envs[i].name, self.next_token);
        self.spawn_one(i, v, id)
    }

    fn spawn_one(&mut self, i: usize, v: &Version, id: String) -> u64 {
        let launch = self.launch_for(v);
        let token = self.next_token;
        self.next_token += 1;
        let env = &mut self.envs[i];
        let spec = InstanceSpec {
            env: env.name.clone(),
            version: Arc::from(v.as_str()),
            id: Arc::from(id.as_str()),
            token,
            launch,
            env_vars: env.instance_env.clone(),
            ready_path: self.cfg.service.ready_path.clone(),
        };
        let handle = spawn_instance(spec, self.update_tx.clone(), self.log_tx.clone());
        env.instances.insert(
            token,
            Instance {
                status: InstanceStatus {
                    id,
                    version: v.clone(),
                    phase: InstancePhase::Starting,
                    restarts: 0,
                    detail: InstanceDetail::Process { pid: None, port: 0 },
                },
                handle,
            },
        );
        self.touch(i);
        token
    }

    /// Stop the instance named `id`; false when there is none.
    pub(super) fn stop_instance(&mut self, i: usize, id: &str) -> bool {
        let env = &mut self.envs[i];
        let Some(token) = env
            .instances
            .iter()
            .find(|(_, x)| x.status.id == id)
            .map(|(t, _)| *t)
        else {
            return false;
        };
        if let Some(inst) = env.instances.remove(&token) {
            let version = inst.status.version.clone();
            self.stopping.push(inst.handle.stop());
            self.push_backends(i, &version);
        }
        self.refresh_pids(i);
        self.touch(i);
        true
    }

    /// Stop every instance of `v` and take it out of the router.
    pub(super) fn stop_version(&mut self, i: usize, v: &Version) {
        let env = &mut self.envs[i];
        let tokens: Vec<u64> = env
            .instances
            .iter()
            .filter(|(_, inst)| &inst.status.version == v)
            .map(|(t, _)| *t)
            .collect();
        for t in tokens {
            if let Some(inst) = env.instances.remove(&t) {
                self.stopping.push(inst.handle.stop());
            }
        }
        env.router.remove_version(v.as_str());
        self.refresh_pids(i);
        self.touch(i);
    }

    pub(super) fn push_backends(&self, i: usize, v: &Version) {
        let env = &self.envs[i];
        env.router.set_backends(v.as_str(), env.ready_addrs(v));
    }

    pub(super) fn apply_split(&mut self, i: usize) {
        let env = &self.envs[i];
        env.router.set_split(
            env.stable.as_ref().map(Version::as_str),
            env.canary.as_ref().map(Version::as_str),
            env.weight,
        );
        self.touch(i);
    }

    pub(super) fn refresh_pids(&self, i: usize) {
        let env = &self.envs[i];
        let mut map = env.instance_pids();
        // Stress workers and memory holders sit "next to" the service: count
        // their CPU and memory under stable.
        let stress: Vec<u32> = self.stress_pids(i);
        if !stress.is_empty() {
            let key = env
                .stable
                .as_ref()
                .map(|v| v.0.clone())
                .unwrap_or_else(|| "chaos".to_string());
            map.entry(key).or_default().extend(stress);
        }
        env.pids.send_replace(map);
    }

    pub(super) fn on_instance_update(&mut self, u: InstanceUpdate) {
        let Some(i) = self.env_index(&u.env) else {
            return;
        };
        let Some(inst) = self.envs[i].instances.get_mut(&u.token) else {
            // An instance we already stopped; its last words do not matter.
            return;
        };
        let was_ready = inst.status.phase == InstancePhase::Ready;
        let old_port = inst.status.port().unwrap_or(0);
        inst.status.detail = InstanceDetail::Process {
            pid: u.pid,
            port: u.port,
        };
        inst.status.phase = u.phase;
        inst.status.restarts = u.restarts;
        let is_ready = inst.status.phase == InstancePhase::Ready;
        let version = inst.status.version.clone();
        if was_ready != is_ready || (is_ready && old_port != u.port) {
            self.push_backends(i, &version);
        }
        self.refresh_pids(i);
        self.touch(i);
    }
}
