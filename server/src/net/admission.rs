//! Who gets a connection slot: at most `--max-connections` TCP connections in all, and at
//! most `--max-connections-per-ip` from one address. A slot is held for the connection's life,
//! HTTP and WebSocket alike, and given back when its [`Admitted`] is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The connection limits, shared by the accept loop and every connection.
pub struct Admission {
    permits: Arc<Semaphore>,
    max_connections: u32,
    max_per_ip: u32,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server holds `--max-connections` already (503).
    Full,
    /// This address holds `--max-connections-per-ip` already (429).
    TooManyFromAddress,
}

/// A connection's slot; dropping it frees the slot.
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    admission: Arc<Admission>,
}

impl Admission {
    /// Limits; `max_per_ip` 0 means no per-address limit.
    pub fn new(max_connections: u32, max_per_ip: u32) -> Arc<Admission> {
        Arc::new(Admission {
            permits: Arc::new(Semaphore::new(max_connections as usize)),
            max_connections,
            max_per_ip,
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for a connection from `ip`.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; count it as a.b.c.d.
        let ip = ip.to_canonical();
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| Refused::Full)?;
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = per_ip.entry(ip).or_insert(0);
        if self.max_per_ip > 0 && *count >= self.max_per_ip {
            return Err(Refused::TooManyFromAddress);
        }
        *count += 1;
        Ok(Admitted { _permit: permit, ip, admission: self.clone() })
    }

    /// Connection slots free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// The per-address limit (0: none).
    pub fn max_per_ip(&self) -> u32 {
        self.max_per_ip
    }

    /// Waits until every slot is free (all connections closed).
    pub async fn drained(&self) {
        let _ = self.permits.acquire_many(self.max_connections).await;
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut per_ip = self.admission.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_in_all_and_frees_on_drop() {
        let admission = Admission::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "::ffff:10.0.0.2".parse().expect("ip");
        let first = admission.admit(a).expect("1st from a");
        let _second = admission.admit(a).expect("2nd from a");
        assert_eq!(admission.admit(a).err(), Some(Refused::TooManyFromAddress));
        let _third = admission.admit(b).expect("1st from b");
        assert_eq!(admission.admit("10.0.0.2".parse().expect("ip")).err(), Some(Refused::Full), "3 in all");
        drop(first);
        assert!(admission.admit(a).is_ok(), "a slot came back");
        assert!(admission.per_ip.lock().expect("lock").get(&"10.0.0.2".parse::<IpAddr>().expect("ip")) == Some(&1));
    }

    #[test]
    fn zero_means_no_per_address_limit() {
        let admission = Admission::new(100, 0);
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let held: Vec<_> = (0..100).map(|_| admission.admit(ip).expect("admitted")).collect();
        assert_eq!(held.len(), 100);
        assert_eq!(admission.admit(ip).err(), Some(Refused::Full));
    }
}
