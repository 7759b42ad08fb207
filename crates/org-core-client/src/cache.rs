//! Policies per organization, decisions per (principal, organization,
//! permission, resource, class) and project lifecycles per project, fed by
//! answers and invalidated by the watch feed.
//!
//! The hit path takes a read lock and walks four small maps keyed by the
//! borrowed strings of the request, so it allocates nothing; cloning the
//! answer only bumps reference counts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use loopback_runtime::auth::PrincipalKind;

use crate::model::{ActionClass, Authorization, OrganizationPolicy, ProjectLifecycle};

/// Number of invalidation epochs; organizations hash onto them.
const SHARDS: usize = 64;

struct CachedDecision {
    kind: PrincipalKind,
    class: ActionClass,
    authorization: Authorization,
    /// Feed revision of the policy it came with (`None` for NOT_FOUND).
    revision: Option<i64>,
    confirmed_at: Instant,
}

struct CachedPolicy {
    policy: Arc<OrganizationPolicy>,
    confirmed_at: Instant,
}

struct CachedProject {
    lifecycle: ProjectLifecycle,
    /// Feed revision (of its organization) the state was read at.
    revision: i64,
    confirmed_at: Instant,
}

/// resource (`""` for the organization, else a project name) → decisions
/// by (kind, class); usually one or two.
type ByResource = HashMap<Box<str>, Vec<CachedDecision>>;
/// permission → resource → decisions.
type ByPermission = HashMap<Box<str>, ByResource>;

#[derive(Default)]
struct OrgEntry {
    policy: Option<CachedPolicy>,
    /// subject → permission → resource → decisions.
    subjects: HashMap<Box<str>, ByPermission>,
    decisions: usize,
    /// project name → lifecycle.
    projects: HashMap<Box<str>, CachedProject>,
}

impl OrgEntry {
    fn clear_decisions(&mut self) -> usize {
        self.subjects.clear();
        std::mem::take(&mut self.decisions)
    }

    /// Worth keeping without decisions.
    fn holds_more(&self) -> bool {
        self.policy.is_some() || !self.projects.is_empty()
    }
}

#[derive(Default)]
struct Entries {
    orgs: HashMap<Box<str>, OrgEntry>,
    decisions: usize,
    projects: usize,
}

impl Entries {
    /// Stores `policy` unless an equal or newer one is cached; a newer
    /// revision than the cached one means the organization changed, so its
    /// cached decisions go.
    fn merge_policy(&mut self, policy: &Arc<OrganizationPolicy>, now: Instant) {
        let entry = self
            .orgs
            .entry(policy.organization.as_str().into())
            .or_default();
        match &mut entry.policy {
            Some(cached) if cached.policy.revision > policy.revision => {}
            Some(cached) if cached.policy.revision == policy.revision => cached.confirmed_at = now,
            slot => {
                let had_policy = slot.is_some();
                *slot = Some(CachedPolicy {
                    policy: Arc::clone(policy),
                    confirmed_at: now,
                });
                if had_policy {
                    self.decisions -= entry.clear_decisions();
                }
            }
        }
    }

    fn clear_decisions(&mut self) {
        self.orgs.retain(|_, entry| {
            entry.clear_decisions();
            entry.holds_more()
        });
        self.decisions = 0;
    }

    fn clear_projects(&mut self) {
        self.orgs.retain(|_, entry| {
            entry.projects.clear();
            entry.policy.is_some() || entry.decisions > 0
        });
        self.projects = 0;
    }
}

/// Borrowed key of one decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecisionKey<'a> {
    pub organization: &'a str,
    /// `""` for the organization itself, else the project the decision is
    /// about (workspaces are decided as their project).
    pub resource: &'a str,
    pub kind: PrincipalKind,
    pub subject: &'a str,
    pub permission: &'a str,
    pub class: ActionClass,
}

/// What the feed says happened to one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProjectChange {
    /// Created or restored: live.
    Live,
    /// Soft-deleted: the cached state goes (the next look-up reads the
    /// delete and purge times).
    Deleted,
    /// Purged for good.
    Purged,
}

pub(crate) struct Cache {
    entries: RwLock<Entries>,
    /// Bumped (under the write lock) whenever an organization's entries are
    /// invalidated, so an answer fetched before the invalidation is not
    /// stored after it.
    epochs: [AtomicU64; SHARDS],
    base: Instant,
    watch_connected: AtomicBool,
    /// When the watch stream was last known alive: nanoseconds since `base`
    /// plus one; 0 = never.
    watch_alive_at: AtomicU64,
    /// Until when org-core counts as unreachable: nanoseconds since `base`.
    unreachable_until: AtomicU64,
    staleness: Duration,
    max_decisions: usize,
}

fn shard(organization: &str) -> usize {
    // FNV-1a: organization names are UUIDs, so any mixing will do.
    let hash = organization
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    (hash % SHARDS as u64) as usize
}

impl Cache {
    pub(crate) fn new(staleness: Duration, max_decisions: usize) -> Self {
        Self {
            entries: RwLock::new(Entries::default()),
            epochs: std::array::from_fn(|_| AtomicU64::new(0)),
            base: Instant::now(),
            watch_connected: AtomicBool::new(false),
            watch_alive_at: AtomicU64::new(0),
            unreachable_until: AtomicU64::new(0),
            staleness,
            max_decisions: max_decisions.max(1),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    // ---- freshness and reachability ----

    /// Fresh: the watch stream is connected (it would have invalidated the
    /// entry), or the entry was confirmed — or the stream last alive —
    /// within the staleness bound.
    pub(crate) fn is_fresh(&self, confirmed_at: Instant) -> bool {
        if self.watch_connected.load(Ordering::Acquire) {
            return true;
        }
        let mut newest = confirmed_at;
        if let Some(alive) = self.watch_alive_at() {
            newest = newest.max(alive);
        }
        Instant::now().saturating_duration_since(newest) < self.staleness
    }

    fn watch_alive_at(&self) -> Option<Instant> {
        match self.watch_alive_at.load(Ordering::Acquire) {
            0 => None,
            n => Some(self.base + Duration::from_nanos(n - 1)),
        }
    }

    pub(crate) fn watch_connected(&self) -> bool {
        self.watch_connected.load(Ordering::Acquire)
    }

    pub(crate) fn set_watch_up(&self) {
        self.watch_connected.store(true, Ordering::Release);
        self.note_reachable();
    }

    pub(crate) fn set_watch_down(&self) {
        let alive = self.nanos(Instant::now()).saturating_add(1);
        self.watch_alive_at.store(alive, Ordering::Release);
        self.watch_connected.store(false, Ordering::Release);
    }

    /// True while a recent call found org-core unreachable.
    pub(crate) fn known_unreachable(&self) -> bool {
        let until = self.unreachable_until.load(Ordering::Acquire);
        until != 0 && self.nanos(Instant::now()) < until
    }

    pub(crate) fn note_unreachable(&self, for_how_long: Duration) {
        let until = self.nanos(Instant::now() + for_how_long);
        self.unreachable_until
            .store(until.max(1), Ordering::Release);
    }

    pub(crate) fn note_reachable(&self) {
        if self.unreachable_until.load(Ordering::Relaxed) != 0 {
            self.unreachable_until.store(0, Ordering::Release);
        }
    }

    // ---- lookups ----

    /// The epoch to hand back to a `store_*` call after fetching.
    pub(crate) fn epoch(&self, organization: &str) -> u64 {
        self.epochs[shard(organization)].load(Ordering::Acquire)
    }

    /// The cached decision and when it was confirmed.
    pub(crate) fn decision(&self, key: DecisionKey<'_>) -> Option<(Authorization, Instant)> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .orgs
            .get(key.organization)?
            .subjects
            .get(key.subject)?
            .get(key.permission)?
            .get(key.resource)?
            .iter()
            .find(|d| d.kind == key.kind && d.class == key.class)
            .map(|d| (d.authorization.clone(), d.confirmed_at))
    }

    /// The cached policy and when it was confirmed.
    pub(crate) fn policy(&self, organization: &str) -> Option<(Arc<OrganizationPolicy>, Instant)> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let cached = entries.orgs.get(organization)?.policy.as_ref()?;
        Some((Arc::clone(&cached.policy), cached.confirmed_at))
    }

    /// The cached lifecycle of `project` (in `organization`) and when it
    /// was confirmed.
    pub(crate) fn project(
        &self,
        organization: &str,
        project: &str,
    ) -> Option<(ProjectLifecycle, Instant)> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let cached = entries.orgs.get(organization)?.projects.get(project)?;
        Some((cached.lifecycle.clone(), cached.confirmed_at))
    }

    /// Number of cached project lifecycles.
    pub(crate) fn project_count(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .projects
    }

    /// Number of cached decisions.
    pub(crate) fn decision_count(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .decisions
    }

    // ---- stores ----

    /// Caches a fetched decision (and its policy) unless the organization
    /// was invalidated since `epoch` was read.
    pub(crate) fn store_decision(
        &self,
        epoch: u64,
        key: DecisionKey<'_>,
        authorization: &Authorization,
    ) {
        let now = Instant::now();
        let mut guard = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let entries = &mut *guard;
        if self.epochs[shard(key.organization)].load(Ordering::Acquire) != epoch {
            return;
        }
        if let Some(policy) = &authorization.policy {
            if policy.organization != key.organization {
                return;
            }
            entries.merge_policy(policy, now);
        }
        if entries.decisions >= self.max_decisions {
            entries.clear_decisions();
        }
        let org = entries.orgs.entry(key.organization.into()).or_default();
        let decisions = org
            .subjects
            .entry(key.subject.into())
            .or_default()
            .entry(key.permission.into())
            .or_default()
            .entry(key.resource.into())
            .or_default();
        let fresh = CachedDecision {
            kind: key.kind,
            class: key.class,
            authorization: authorization.clone(),
            revision: authorization.policy.as_ref().map(|p| p.revision),
            confirmed_at: now,
        };
        match decisions
            .iter_mut()
            .find(|d| d.kind == key.kind && d.class == key.class)
        {
            Some(existing) => *existing = fresh,
            None => {
                decisions.push(fresh);
                org.decisions += 1;
                entries.decisions += 1;
            }
        }
    }

    /// Caches a fetched policy unless the organization was invalidated
    /// since `epoch` was read.
    pub(crate) fn store_policy(&self, epoch: u64, policy: &Arc<OrganizationPolicy>) {
        let now = Instant::now();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.epochs[shard(&policy.organization)].load(Ordering::Acquire) != epoch {
            return;
        }
        entries.merge_policy(policy, now);
    }

    /// Caches a fetched project lifecycle, read at `revision` of its
    /// organization, unless the organization was invalidated since `epoch`
    /// was read.
    pub(crate) fn store_project(
        &self,
        epoch: u64,
        organization: &str,
        project: &str,
        lifecycle: ProjectLifecycle,
        revision: i64,
    ) {
        let now = Instant::now();
        let mut guard = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let entries = &mut *guard;
        if self.epochs[shard(organization)].load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.projects >= self.max_decisions {
            entries.clear_projects();
        }
        let org = entries.orgs.entry(organization.into()).or_default();
        let fresh = CachedProject {
            lifecycle,
            revision,
            confirmed_at: now,
        };
        match org.projects.get_mut(project) {
            Some(cached) if cached.revision > revision => {}
            Some(cached) => *cached = fresh,
            None => {
                org.projects.insert(project.into(), fresh);
                entries.projects += 1;
            }
        }
    }

    // ---- invalidation (the watch feed) ----

    /// Change `revision` of `organization` on the feed: its decisions go
    /// (except those read at a later revision, which already include it),
    /// its policy is replaced by the feed's, or everything about it dropped
    /// when the feed has none; a project change (`project`) also updates
    /// that project's cached lifecycle unless it was read later.
    /// Organizations this cache never saw are ignored.
    pub(crate) fn apply_change(
        &self,
        organization: &str,
        revision: i64,
        policy: Option<OrganizationPolicy>,
        project: Option<(&str, ProjectChange)>,
    ) {
        let now = Instant::now();
        let mut guard = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let entries = &mut *guard;
        self.epochs[shard(organization)].fetch_add(1, Ordering::AcqRel);
        let Some(entry) = entries.orgs.get_mut(organization) else {
            return;
        };
        let Some(policy) = policy.filter(|p| p.organization == organization) else {
            entries.decisions -= entry.decisions;
            entries.projects -= entry.projects.len();
            entries.orgs.remove(organization);
            return;
        };
        if let Some((name, change)) = project
            && let Some(cached) = entry.projects.get_mut(name)
            && cached.revision < revision
        {
            match change {
                ProjectChange::Live | ProjectChange::Purged => {
                    cached.lifecycle = if change == ProjectChange::Live {
                        ProjectLifecycle::Live
                    } else {
                        ProjectLifecycle::Purged
                    };
                    cached.revision = revision;
                    cached.confirmed_at = now;
                }
                ProjectChange::Deleted => {
                    entry.projects.remove(name);
                    entries.projects -= 1;
                }
            }
        }
        let mut dropped = 0;
        entry.subjects.retain(|_, permissions| {
            permissions.retain(|_, resources| {
                resources.retain(|_, decisions| {
                    let before = decisions.len();
                    decisions.retain(|d| d.revision.is_some_and(|read_at| revision < read_at));
                    dropped += before - decisions.len();
                    !decisions.is_empty()
                });
                !resources.is_empty()
            });
            !permissions.is_empty()
        });
        entry.decisions -= dropped;
        entries.decisions -= dropped;
        let newer = entry
            .policy
            .as_ref()
            .is_none_or(|cached| cached.policy.revision <= policy.revision);
        if newer {
            entry.policy = Some(CachedPolicy {
                policy: Arc::new(policy),
                confirmed_at: now,
            });
        }
    }

    /// Forgets everything (the feed asked for a resync).
    pub(crate) fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        for epoch in &self.epochs {
            epoch.fetch_add(1, Ordering::AcqRel);
        }
        *entries = Entries::default();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{Decision, State, VerificationStatus};

    const ORG: &str = "organizations/01890a5d-ac96-774b-bcce-b302099a8057";

    fn policy(revision: i64, status: VerificationStatus) -> OrganizationPolicy {
        OrganizationPolicy {
            organization: ORG.into(),
            verification_status: status,
            state: State::Active,
            limits: BTreeMap::new(),
            flags: BTreeMap::new(),
            features: Vec::new(),
            deployment_features: Vec::new(),
            plan: String::new(),
            plan_display_name: String::new(),
            allowed_action_classes: vec![ActionClass::Read],
            revision,
        }
    }

    fn key(class: ActionClass) -> DecisionKey<'static> {
        DecisionKey {
            organization: ORG,
            resource: "",
            kind: PrincipalKind::Account,
            subject: "alice",
            permission: "orgcore.projects.create",
            class,
        }
    }

    fn allow(revision: i64) -> Authorization {
        Authorization {
            decision: Decision::Allow,
            policy: Some(Arc::new(policy(revision, VerificationStatus::Verified))),
        }
    }

    #[test]
    fn a_change_drops_decisions_and_replaces_the_policy() {
        let cache = Cache::new(Duration::from_secs(30), 100);
        let epoch = cache.epoch(ORG);
        cache.store_decision(epoch, key(ActionClass::Create), &allow(3));
        cache.store_decision(epoch, key(ActionClass::Read), &allow(3));
        assert_eq!(cache.decision_count(), 2);
        assert!(cache.decision(key(ActionClass::Create)).is_some());
        assert!(cache.decision(key(ActionClass::Operate)).is_none());

        cache.apply_change(ORG, 4, Some(policy(4, VerificationStatus::Blocked)), None);
        assert_eq!(cache.decision_count(), 0);
        assert!(cache.decision(key(ActionClass::Create)).is_none());
        let (cached, _) = cache.policy(ORG).expect("policy kept");
        assert_eq!(cached.verification_status, VerificationStatus::Blocked);
        assert_eq!(cached.revision, 4);
    }

    #[test]
    fn an_answer_fetched_before_an_invalidation_is_not_stored() {
        let cache = Cache::new(Duration::from_secs(30), 100);
        let before = cache.epoch(ORG);
        cache.store_policy(before, &Arc::new(policy(3, VerificationStatus::Verified)));
        cache.apply_change(ORG, 4, Some(policy(4, VerificationStatus::Blocked)), None);
        cache.store_decision(before, key(ActionClass::Create), &allow(3));
        assert!(cache.decision(key(ActionClass::Create)).is_none());
        let (cached, _) = cache.policy(ORG).expect("policy");
        assert_eq!(
            cached.revision, 4,
            "an older policy never replaces a newer one"
        );
    }

    #[test]
    fn a_newer_policy_in_an_answer_drops_older_decisions() {
        let cache = Cache::new(Duration::from_secs(30), 100);
        let epoch = cache.epoch(ORG);
        cache.store_decision(epoch, key(ActionClass::Read), &allow(3));
        cache.store_decision(epoch, key(ActionClass::Create), &allow(5));
        assert!(cache.decision(key(ActionClass::Read)).is_none());
        assert!(cache.decision(key(ActionClass::Create)).is_some());
        assert_eq!(cache.decision_count(), 1);
    }

    #[test]
    fn replayed_changes_older_than_a_decision_keep_it() {
        let cache = Cache::new(Duration::from_secs(30), 100);
        let epoch = cache.epoch(ORG);
        cache.store_decision(epoch, key(ActionClass::Create), &allow(5));
        cache.apply_change(ORG, 4, Some(policy(5, VerificationStatus::Verified)), None);
        assert!(
            cache.decision(key(ActionClass::Create)).is_some(),
            "change 4 is in what was read at 5"
        );
        cache.apply_change(ORG, 5, Some(policy(5, VerificationStatus::Verified)), None);
        assert!(
            cache.decision(key(ActionClass::Create)).is_none(),
            "change 5 may not be"
        );
        assert_eq!(cache.decision_count(), 0);
        cache.apply_change(ORG, 6, None, None);
        assert!(
            cache.policy(ORG).is_none(),
            "a purged organization is forgotten"
        );
    }

    #[test]
    fn the_decision_bound_holds() {
        let cache = Cache::new(Duration::from_secs(30), 2);
        let epoch = cache.epoch(ORG);
        for class in ActionClass::ALL {
            cache.store_decision(epoch, key(class), &allow(3));
        }
        assert!(cache.decision_count() <= 2);
        assert!(cache.policy(ORG).is_some(), "policies survive");
    }

    const PROJECT: &str = "organizations/01890a5d-ac96-774b-bcce-b302099a8057/projects/01890a5d-ac96-774b-bcce-b302099a8058";

    #[test]
    fn project_decisions_are_kept_apart_from_the_organization_s() {
        let cache = Cache::new(Duration::from_secs(30), 100);
        let epoch = cache.epoch(ORG);
        let in_project = DecisionKey {
            resource: PROJECT,
            ..key(ActionClass::Operate)
        };
        let deny = Authorization {
            decision: Decision::DenyPermission("no".into()),
            policy: Some(Arc::new(policy(3, VerificationStatus::Verified))),
        };
        cache.store_decision(epoch, key(ActionClass::Operate), &deny);
        cache.store_decision(epoch, in_project, &allow(3));
        assert_eq!(
            cache.decision(in_project).unwrap().0.decision,
            Decision::Allow
        );
        assert!(matches!(
            cache
                .decision(key(ActionClass::Operate))
                .unwrap()
                .0
                .decision,
            Decision::DenyPermission(_)
        ));
        cache.apply_change(ORG, 4, Some(policy(4, VerificationStatus::Verified)), None);
        assert!(cache.decision(in_project).is_none());
        assert_eq!(cache.decision_count(), 0);
    }

    #[test]
    fn the_feed_moves_cached_projects_unless_they_were_read_later() {
        let cache = Cache::new(Duration::from_secs(30), 100);
        let epoch = cache.epoch(ORG);
        cache.store_project(epoch, ORG, PROJECT, ProjectLifecycle::Live, 5);
        assert_eq!(
            cache.project(ORG, PROJECT).unwrap().0,
            ProjectLifecycle::Live
        );
        // A replayed change older than the read is already in it.
        let verified = || Some(policy(6, VerificationStatus::Verified));
        cache.apply_change(ORG, 4, verified(), Some((PROJECT, ProjectChange::Purged)));
        assert_eq!(
            cache.project(ORG, PROJECT).unwrap().0,
            ProjectLifecycle::Live
        );
        // A newer delete drops it (the next look-up reads the purge time)...
        cache.apply_change(ORG, 6, verified(), Some((PROJECT, ProjectChange::Deleted)));
        assert!(cache.project(ORG, PROJECT).is_none());
        assert_eq!(cache.project_count(), 0);
        // ...an answer fetched before that change is not stored...
        cache.store_project(epoch, ORG, PROJECT, ProjectLifecycle::Live, 5);
        assert!(cache.project(ORG, PROJECT).is_none());
        // ...and a purge is remembered.
        let epoch = cache.epoch(ORG);
        let deleted = ProjectLifecycle::Deleted {
            delete_time: None,
            purge_time: None,
        };
        cache.store_project(epoch, ORG, PROJECT, deleted, 6);
        cache.apply_change(ORG, 7, verified(), Some((PROJECT, ProjectChange::Purged)));
        assert_eq!(
            cache.project(ORG, PROJECT).unwrap().0,
            ProjectLifecycle::Purged
        );
        cache.clear();
        assert!(cache.project(ORG, PROJECT).is_none());
    }

    #[test]
    fn freshness_follows_the_watch_and_the_bound() {
        let cache = Cache::new(Duration::from_millis(200), 100);
        let long_ago = Instant::now();
        std::thread::sleep(Duration::from_millis(250));
        assert!(!cache.is_fresh(long_ago));
        cache.set_watch_up();
        assert!(
            cache.is_fresh(long_ago),
            "a connected watch keeps everything fresh"
        );
        cache.set_watch_down();
        assert!(cache.is_fresh(long_ago), "the stream was alive just now");
        std::thread::sleep(Duration::from_millis(250));
        assert!(!cache.is_fresh(long_ago));
    }
}
