//! In-memory task storage, partitioned by owner: a caller can only ever reach its own tasks.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, PoisonError, RwLock},
};

use serde::Serialize;
use uuid::Uuid;

/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Most tasks one owner may hold (keeps memory bounded).
pub const MAX_TASKS_PER_OWNER: usize = 10_000;

/// A task as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    /// Time-ordered id (UUIDv7).
    pub id: Uuid,
    /// 1 to [`MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// The creator's `sub`.
    pub owner: String,
}

/// Shared, cheap-to-clone storage.
#[derive(Debug, Clone, Default)]
pub struct TaskStore {
    by_owner: Arc<RwLock<HashMap<String, BTreeMap<Uuid, Task>>>>,
}

impl TaskStore {
    /// Adds a task; `None` when the owner already has [`MAX_TASKS_PER_OWNER`].
    pub fn create(&self, owner: &str, title: String) -> Option<Task> {
        let mut all = self.by_owner.write().unwrap_or_else(PoisonError::into_inner);
        let mine = all.entry(owner.to_owned()).or_default();
        if mine.len() >= MAX_TASKS_PER_OWNER {
            return None;
        }
        let task = Task { id: Uuid::now_v7(), title, owner: owner.to_owned() };
        mine.insert(task.id, task.clone());
        Some(task)
    }

    /// Up to `limit` of the owner's tasks after `cursor`, oldest first, and the cursor for
    /// the next page if there is one.
    pub fn list(&self, owner: &str, cursor: Option<Uuid>, limit: usize) -> (Vec<Task>, Option<Uuid>) {
        let all = self.by_owner.read().unwrap_or_else(PoisonError::into_inner);
        let Some(mine) = all.get(owner) else {
            return (Vec::new(), None);
        };
        let lower = match cursor {
            Some(c) => std::ops::Bound::Excluded(c),
            None => std::ops::Bound::Unbounded,
        };
        let mut items: Vec<Task> =
            mine.range((lower, std::ops::Bound::Unbounded)).take(limit + 1).map(|(_, t)| t.clone()).collect();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|t| t.id)
        } else {
            None
        };
        (items, next)
    }

    /// The owner's task with this id.
    pub fn get(&self, owner: &str, id: Uuid) -> Option<Task> {
        let all = self.by_owner.read().unwrap_or_else(PoisonError::into_inner);
        all.get(owner).and_then(|m| m.get(&id)).cloned()
    }

    /// Deletes the owner's task; `false` if the owner has no such task.
    pub fn delete(&self, owner: &str, id: Uuid) -> bool {
        let mut all = self.by_owner.write().unwrap_or_else(PoisonError::into_inner);
        all.get_mut(owner).is_some_and(|m| m.remove(&id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_isolated_and_pages_chain() {
        let s = TaskStore::default();
        let a: Vec<Task> = (0..5).map(|i| s.create("user:a", format!("t{i}")).unwrap()).collect();
        s.create("user:b", "theirs".into()).unwrap();

        assert_eq!(s.get("user:b", a[0].id), None);
        assert!(!s.delete("user:b", a[0].id));
        assert_eq!(s.get("user:a", a[0].id).as_ref(), Some(&a[0]));

        let (p1, c1) = s.list("user:a", None, 2);
        let (p2, c2) = s.list("user:a", c1, 2);
        let (p3, c3) = s.list("user:a", c2, 2);
        let titles: Vec<_> = p1.iter().chain(&p2).chain(&p3).map(|t| t.title.as_str()).collect();
        assert_eq!(titles, ["t0", "t1", "t2", "t3", "t4"]);
        assert!(c1.is_some() && c2.is_some() && c3.is_none());

        assert!(s.delete("user:a", a[0].id));
        assert!(!s.delete("user:a", a[0].id));
        assert_eq!(s.list("user:nobody", None, 10), (vec![], None));
    }
}
