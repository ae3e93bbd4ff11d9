//! Handing out socket ids.

use std::sync::atomic::{AtomicU64, Ordering};

use sockwave_protocol::SocketId;

/// Hands out unique socket ids: a random first part per socket, a process-wide counter as the
/// second, so ids are unique on this node and collide across nodes only if both parts match.
#[derive(Debug, Default)]
pub struct SocketIdGenerator {
    counter: AtomicU64,
}

impl SocketIdGenerator {
    /// The next id.
    pub fn next_id(&self) -> SocketId {
        SocketId::new(
            rand::random_range(1..1_000_000_000),
            self.counter.fetch_add(1, Ordering::Relaxed) + 1,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_valid() {
        let generator = SocketIdGenerator::default();
        let id = generator.next_id();
        assert_eq!(id.to_string().parse::<SocketId>(), Ok(id));
        assert_ne!(generator.next_id(), generator.next_id());
    }
}
