//! Services with several containers (`deploy.replicas`, `scale`): each one is judged, and
//! the service passes when all of them do.

use super::{Phase, ServiceHealth};

/// How many of a service's containers pass, of how many it should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Replicas {
    pub ready: u32,
    pub wanted: u32,
}

/// A service's verdict from its containers' (at least one): the worst of them; with more than
/// one wanted, also how many pass, and it waits while fewer than `wanted` exist.
pub(super) fn replicas(judged: Vec<(ServiceHealth, Phase)>, wanted: u32) -> (ServiceHealth, Phase) {
    let ready = judged.iter().filter(|(_, p)| *p == Phase::Ready).count() as u32;
    let count = judged.len() as u32;
    let (mut worst, mut phase) = judged
        .into_iter()
        .max_by_key(|(_, p)| *p)
        .unwrap_or_else(|| unreachable!("a service with containers"));
    if count < wanted && phase == Phase::Ready {
        phase = Phase::Waiting;
        worst.ok = false;
    }
    if wanted > 1 {
        worst.replicas = Some(Replicas {
            ready: ready.min(wanted.max(1)),
            wanted: wanted.max(1),
        });
    }
    (worst, phase)
}
