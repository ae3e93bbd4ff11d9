//! Per client address limits on WebSocket connections: how many may be open at once and how
//! many may be opened per second. Both are off by default and always node-local.
//!
//! The address is the TCP peer's. Behind a reverse proxy every client shares the proxy's
//! address, so these limits belong on the proxy there (see `docs/rate-limits.md`).

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::time::Instant;

use super::LocalLimiter;

/// Why a connection from an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpRefusal {
    /// The address already holds `max` open sockets.
    TooManyOpen {
        /// The limit.
        max: u32,
    },
    /// The address opened `max` sockets in the current second.
    TooManyNew {
        /// The limit.
        max: u32,
    },
}

/// The limits and the counts behind them.
#[derive(Debug)]
pub struct IpLimits {
    max_open: Option<u32>,
    max_new_per_second: Option<u32>,
    open: Arc<DashMap<IpAddr, u32>>,
    new: LocalLimiter,
}

/// Holds one open-socket slot of an address; dropping it frees the slot.
#[derive(Debug)]
pub struct IpSlot {
    held: Option<(IpAddr, Arc<DashMap<IpAddr, u32>>)>,
}

impl IpLimits {
    /// Limits; `None` turns each off.
    pub fn new(max_open: Option<u32>, max_new_per_second: Option<u32>) -> IpLimits {
        IpLimits {
            max_open,
            max_new_per_second,
            open: Arc::new(DashMap::new()),
            new: LocalLimiter::new(),
        }
    }

    /// Admits a new socket from `ip`, or says which limit refuses it.
    pub fn try_admit(&self, ip: IpAddr) -> Result<IpSlot, IpRefusal> {
        if let Some(max) = self.max_new_per_second {
            let decision = self.new.check_at(&ip.to_string(), 1, max, Instant::now());
            if !decision.allowed {
                return Err(IpRefusal::TooManyNew { max });
            }
        }
        let Some(max) = self.max_open else {
            return Ok(IpSlot { held: None });
        };
        let mut count = self.open.entry(ip).or_insert(0);
        if *count >= max {
            return Err(IpRefusal::TooManyOpen { max });
        }
        *count += 1;
        drop(count);
        Ok(IpSlot {
            held: Some((ip, self.open.clone())),
        })
    }

    /// Open sockets counted for `ip` (for tests).
    pub fn open_count(&self, ip: IpAddr) -> u32 {
        self.open.get(&ip).map_or(0, |count| *count)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Some((ip, open)) = self.held.take() {
            if let Some(mut count) = open.get_mut(&ip) {
                *count = count.saturating_sub(1);
            }
            open.remove_if(&ip, |_, count| *count == 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sockets_per_address() {
        let limits = IpLimits::new(Some(2), None);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let a = limits.try_admit(ip).unwrap();
        let _b = limits.try_admit(ip).unwrap();
        assert_eq!(
            limits.try_admit(ip).unwrap_err(),
            IpRefusal::TooManyOpen { max: 2 }
        );
        assert!(limits.try_admit(other).is_ok());
        drop(a);
        assert_eq!(limits.open_count(ip), 1);
        assert!(limits.try_admit(ip).is_ok());
    }

    #[test]
    fn new_sockets_per_second() {
        let limits = IpLimits::new(None, Some(1));
        let ip: IpAddr = "::1".parse().unwrap();
        assert!(limits.try_admit(ip).is_ok());
        assert_eq!(
            limits.try_admit(ip).unwrap_err(),
            IpRefusal::TooManyNew { max: 1 }
        );
    }

    #[test]
    fn off_by_default() {
        let limits = IpLimits::new(None, None);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..100).map(|_| limits.try_admit(ip).unwrap()).collect();
        assert_eq!(slots.len(), 100);
        assert_eq!(limits.open_count(ip), 0);
    }
}
