//! Who gets a connection slot: at most `--max-connections` TCP connections in all, at most
//! `--max-connections-per-ip` at once from one address, and new connections from one address
//! at most `--connect-rate-per-ip` a second after a burst of `--connect-burst-per-ip`. A slot
//! is held for the connection's life, HTTP and WebSocket alike, and given back when its
//! [`Admitted`] is dropped.
//!
//! An "address" is an IPv4 address, or an IPv6 /64: one IPv6 host is usually given a whole
//! /64, so counting its addresses one by one would give it 2^64 allowances.
//!
//! A connection from a `--trusted-proxy` carries many clients' requests: it takes only a slot
//! in the total at accept ([`Admission::admit_proxy`]), and each WebSocket upgrade it forwards
//! takes the per-address allowances of the client it names ([`Admission::admit_forwarded`]).
//!
//! Both tables forget an address once it holds nothing: the per-address counts when the count
//! reaches 0, the rate buckets once they are full again (see [`Admission::admit`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::net::bucket::TokenBucket;

/// Rate buckets kept before full ones are swept out.
const SWEEP_AT: usize = 1024;

/// The connection limits, shared by the accept loop and every connection.
pub struct Admission {
    permits: Arc<Semaphore>,
    max_connections: u32,
    max_per_ip: u32,
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    rate: ConnectRate,
    buckets: Mutex<Buckets>,
}

/// `--connect-rate-per-ip` and `--connect-burst-per-ip`; a rate of 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectRate {
    /// New connections a second from one address, sustained.
    pub per_second: f64,
    /// New connections from one address at once.
    pub burst: f64,
}

impl ConnectRate {
    /// No rate limit.
    pub const OFF: ConnectRate = ConnectRate { per_second: 0.0, burst: 0.0 };
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server holds `--max-connections` already (503).
    Full,
    /// This address holds `--max-connections-per-ip` already (429).
    TooManyFromAddress,
    /// This address opened connections faster than `--connect-rate-per-ip` (429).
    TooFast,
}

/// A connection's slot; dropping it frees the slot.
pub struct Admitted {
    _permit: Option<OwnedSemaphorePermit>,
    /// The address counted in the per-address table, if any.
    key: Option<IpAddr>,
    admission: Arc<Admission>,
}

/// The address an IP is counted under: itself for IPv4, its /64 for IPv6.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// The rate buckets, swept of full ones when they grow.
struct Buckets {
    map: HashMap<IpAddr, TokenBucket>,
    sweep_at: usize,
}

impl Admission {
    /// Limits; `max_per_ip` 0 means no per-address limit.
    pub fn new(max_connections: u32, max_per_ip: u32) -> Arc<Admission> {
        Self::with_rate(max_connections, max_per_ip, ConnectRate::OFF)
    }

    /// Limits, with a connection rate per address.
    pub fn with_rate(max_connections: u32, max_per_ip: u32, rate: ConnectRate) -> Arc<Admission> {
        Arc::new(Admission {
            permits: Arc::new(Semaphore::new(max_connections as usize)),
            max_connections,
            max_per_ip,
            per_ip: Mutex::new(HashMap::new()),
            rate,
            buckets: Mutex::new(Buckets { map: HashMap::new(), sweep_at: SWEEP_AT }),
        })
    }

    /// Takes a slot for a connection from `ip`: the rate, the total, then the per-address count.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let key = address_key(ip);
        self.take_rate(key, Instant::now())?;
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| Refused::Full)?;
        self.count(key)?;
        Ok(Admitted { _permit: Some(permit), key: Some(key), admission: self.clone() })
    }

    /// Takes a slot in the total only, for a connection from a trusted proxy.
    pub fn admit_proxy(self: &Arc<Self>) -> Result<Admitted, Refused> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| Refused::Full)?;
        Ok(Admitted { _permit: Some(permit), key: None, admission: self.clone() })
    }

    /// Takes the per-address allowances of `ip`, a client a trusted proxy forwards; the proxy's
    /// connection already holds the slot in the total.
    pub fn admit_forwarded(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refused> {
        let key = address_key(ip);
        self.take_rate(key, Instant::now())?;
        self.count(key)?;
        Ok(Admitted { _permit: None, key: Some(key), admission: self.clone() })
    }

    fn take_rate(&self, key: IpAddr, now: Instant) -> Result<(), Refused> {
        if self.rate.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.map.len() >= buckets.sweep_at {
            // A full bucket knows nothing a new one would not. What stays was used within the
            // last burst / rate seconds, so the table holds what that time's connections made.
            buckets.map.retain(|_, bucket| !bucket.is_full(now));
            buckets.sweep_at = (buckets.map.len() * 2).max(SWEEP_AT);
        }
        let (rate, burst) = (self.rate.per_second, self.rate.burst.max(1.0));
        let bucket = buckets.map.entry(key).or_insert_with(|| TokenBucket::new(rate, burst, now));
        if bucket.take(now) { Ok(()) } else { Err(Refused::TooFast) }
    }

    fn count(&self, key: IpAddr) -> Result<(), Refused> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        let count = per_ip.entry(key).or_insert(0);
        if self.max_per_ip > 0 && *count >= self.max_per_ip {
            return Err(Refused::TooManyFromAddress);
        }
        *count += 1;
        Ok(())
    }

    /// Connection slots free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// The per-address limit (0: none).
    pub fn max_per_ip(&self) -> u32 {
        self.max_per_ip
    }

    /// Addresses in the per-address and rate tables (what they cost in memory).
    pub fn tracked_addresses(&self) -> (usize, usize) {
        let per_ip = self.per_ip.lock().unwrap_or_else(PoisonError::into_inner).len();
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner).map.len();
        (per_ip, buckets)
    }

    /// Waits until every slot is free (all connections closed).
    pub async fn drained(&self) {
        let _ = self.permits.acquire_many(self.max_connections).await;
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut per_ip = self.admission.per_ip.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_ip.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&key);
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

    #[test]
    fn ipv6_counts_per_64() {
        let admission = Admission::new(100, 2);
        let one: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let same_64: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip");
        let other_64: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let _a = admission.admit(one).expect("1st");
        let _b = admission.admit(same_64).expect("2nd");
        assert_eq!(admission.admit("2001:db8:1:2::99".parse().expect("ip")).err(), Some(Refused::TooManyFromAddress));
        assert!(admission.admit(other_64).is_ok(), "the next /64 is another address");
        assert_eq!(address_key(same_64), "2001:db8:1:2::".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn the_rate_refuses_past_the_burst_and_forgets_idle_addresses() {
        let admission = Admission::with_rate(10_000, 0, ConnectRate { per_second: 10.0, burst: 20.0 });
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        let held: Vec<_> = (0..20).map(|_| admission.admit(ip).expect("within the burst")).collect();
        assert_eq!(admission.admit(ip).err(), Some(Refused::TooFast));
        assert!(admission.admit("127.0.0.2".parse().expect("ip")).is_ok(), "another address has its own");
        drop(held);
        // Many addresses, each once: the table is swept of full buckets as it grows.
        let t0 = Instant::now();
        for i in 0..5000u32 {
            let ip = IpAddr::V4((0x0a00_0000 + i).into());
            // Each address connects once; 2 s later (burst / rate) its bucket is full again.
            let at = t0 + std::time::Duration::from_millis(u64::from(i));
            admission.take_rate(address_key(ip), at).expect("a first connection");
        }
        let (_, buckets) = admission.tracked_addresses();
        assert!(buckets <= 2 * SWEEP_AT + 2100, "the table holds about the last 2 s of addresses: {buckets}");
    }

    #[test]
    fn forwarded_clients_are_counted_without_a_second_total_slot() {
        let admission = Admission::new(1, 1);
        let proxy = admission.admit_proxy().expect("the proxy's connection");
        let client: IpAddr = "198.51.100.7".parse().expect("ip");
        let first = admission.admit_forwarded(client).expect("a forwarded client");
        assert_eq!(admission.admit_forwarded(client).err(), Some(Refused::TooManyFromAddress));
        drop(first);
        assert!(admission.admit_forwarded(client).is_ok());
        assert_eq!(admission.admit_proxy().err(), Some(Refused::Full));
        drop(proxy);
    }
}
