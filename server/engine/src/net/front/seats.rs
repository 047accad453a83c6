//! Seats: what the matchmaker hands out and the upgrade takes. A seat is a reservation of one
//! player's place in one room for `--seat-ttl` (15 s by default), named by a random token that
//! is good for one upgrade, to that room, by the token's subject if auth is on.
//!
//! A room's places are counted here, not from the simulation's player count, which lags the
//! upgrade by a round trip and a tick: a seat counts from its reservation, and the place it
//! becomes counts until the session ends (the [`Place`] guard). So concurrent matchmaking
//! never fills a room past its players, however the joins interleave.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

/// Longest seat token accepted (22 characters are made: 16 random bytes).
pub const MAX_SEAT_TOKEN: usize = 64;

/// Why a seat was not taken (all 401 at the upgrade: the client goes back to the matchmaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeatError {
    /// Never issued, already used, or expired (expired seats are forgotten).
    #[error("this seat is unknown, used or expired: matchmake again")]
    Unknown,
    /// Issued for another room.
    #[error("this seat is for another room")]
    OtherRoom,
    /// Issued to another token subject.
    #[error("this seat was reserved for someone else")]
    OtherSubject,
}

#[derive(Debug)]
struct Reservation {
    room: String,
    expires: Instant,
    subject: Option<String>,
    spectate: bool,
}

#[derive(Debug, Default)]
struct Book {
    seats: HashMap<String, Reservation>,
    /// Per room: player seats reserved and not yet taken, plus places held by sessions.
    occupied: HashMap<String, usize>,
    /// No seat expires before this (`None`: no seat is held), so that most calls skip the
    /// scan: every lookup expires first, and a room list looks up every room.
    next_expiry: Option<Instant>,
}

impl Book {
    fn release(&mut self, room: &str) {
        if let Some(n) = self.occupied.get_mut(room) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.occupied.remove(room);
            }
        }
    }

    /// Forgets expired seats, giving their places back.
    fn expire(&mut self, now: Instant) {
        let expired: Vec<String> =
            self.seats.iter().filter(|(_, r)| r.expires <= now).map(|(t, _)| t.clone()).collect();
        for token in expired {
            if let Some(r) = self.seats.remove(&token)
                && !r.spectate
            {
                self.release(&r.room);
            }
        }
    }
}

/// The process's seats and places.
pub struct Seats {
    book: Arc<Mutex<Book>>,
    ttl: Duration,
    random: SystemRandom,
}

/// A session's place in a room, held for its life.
pub struct Place {
    book: Arc<Mutex<Book>>,
    room: Option<String>,
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(room) = self.room.take() {
            self.book.lock().unwrap_or_else(PoisonError::into_inner).release(&room);
        }
    }
}

/// What a taken seat says.
pub struct Taken {
    /// The place, held while the session lives (none for a spectator's seat).
    pub place: Place,
    /// Whether the seat was a spectator's.
    pub spectate: bool,
}

impl Seats {
    /// Seats that last `ttl` before they are used.
    pub fn new(ttl: Duration) -> Seats {
        Seats { book: Arc::default(), ttl, random: SystemRandom::new() }
    }

    /// How long a seat lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Places taken or reserved in `room`.
    pub fn occupied(&self, room: &str) -> usize {
        let mut book = self.lock();
        book.expire(Instant::now());
        book.occupied.get(room).copied().unwrap_or(0)
    }

    /// Reserves a seat in `room` if fewer than `max` places are taken there (a spectator's
    /// seat takes no place); `None` if the room is full. The check and the reservation are
    /// one step, under one lock.
    pub fn reserve(&self, room: &str, max: usize, spectate: bool, subject: Option<&str>) -> Option<String> {
        let mut bytes = [0u8; 16];
        self.random.fill(&mut bytes).ok()?;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut book = self.lock();
        book.expire(Instant::now());
        if !spectate {
            let taken = book.occupied.entry(room.to_owned()).or_default();
            if *taken >= max {
                return None;
            }
            *taken += 1;
        }
        let expires = Instant::now() + self.ttl;
        book.next_expiry = Some(book.next_expiry.map_or(expires, |next| next.min(expires)));
        let reservation = Reservation { room: room.to_owned(), expires, subject: subject.map(str::to_owned), spectate };
        book.seats.insert(token.clone(), reservation);
        Some(token)
    }

    /// Takes a seat at the upgrade: it is gone after this, whatever the answer, except that a
    /// seat shown for the wrong room or by the wrong subject stays for its rightful holder.
    pub fn take(&self, token: &str, room: &str, subject: Option<&str>) -> Result<Taken, SeatError> {
        let mut book = self.lock();
        book.expire(Instant::now());
        let reservation = book.seats.get(token).ok_or(SeatError::Unknown)?;
        if reservation.room != room {
            return Err(SeatError::OtherRoom);
        }
        if reservation.subject.is_some() && reservation.subject.as_deref() != subject {
            return Err(SeatError::OtherSubject);
        }
        let spectate = reservation.spectate;
        book.seats.remove(token);
        let held = (!spectate).then(|| room.to_owned());
        Ok(Taken { place: Place { book: self.book.clone(), room: held }, spectate })
    }

    /// A place in `room` for a session that came without a seat, if fewer than `max` are
    /// taken.
    pub fn place(&self, room: &str, max: usize) -> Option<Place> {
        let mut book = self.lock();
        book.expire(Instant::now());
        let taken = book.occupied.entry(room.to_owned()).or_default();
        if *taken >= max {
            return None;
        }
        *taken += 1;
        Some(Place { book: self.book.clone(), room: Some(room.to_owned()) })
    }

    /// Forgets a room's seats (it was disposed of).
    pub fn forget(&self, room: &str) {
        let mut book = self.lock();
        book.seats.retain(|_, r| r.room != room);
        book.occupied.remove(room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seat_is_good_once_for_its_room_and_subject() {
        let seats = Seats::new(Duration::from_secs(15));
        let token = seats.reserve("r1", 2, false, Some("ann")).expect("a free place");
        assert_eq!(seats.take(&token, "r2", Some("ann")).err(), Some(SeatError::OtherRoom));
        assert_eq!(seats.take(&token, "r1", Some("bob")).err(), Some(SeatError::OtherSubject));
        assert_eq!(seats.take(&token, "r1", None).err(), Some(SeatError::OtherSubject));
        let taken = seats.take(&token, "r1", Some("ann")).expect("the rightful holder");
        assert!(!taken.spectate);
        assert_eq!(seats.take(&token, "r1", Some("ann")).err(), Some(SeatError::Unknown), "used once");
        assert_eq!(seats.take("forged", "r1", Some("ann")).err(), Some(SeatError::Unknown));
        assert_eq!(seats.occupied("r1"), 1);
        drop(taken);
        assert_eq!(seats.occupied("r1"), 0, "the place is free when the session ends");
    }

    #[test]
    fn reservations_and_places_never_overfill_and_spectators_take_none() {
        let seats = Seats::new(Duration::from_secs(15));
        let a = seats.reserve("r", 2, false, None).expect("first");
        let _b = seats.place("r", 2).expect("second");
        assert!(seats.reserve("r", 2, false, None).is_none(), "full");
        assert!(seats.place("r", 2).is_none(), "full");
        let watch = seats.reserve("r", 2, true, None).expect("a spectator's seat takes no place");
        assert!(seats.take(&watch, "r", None).expect("taken").spectate);
        let taken = seats.take(&a, "r", None).expect("taken");
        assert_eq!(seats.occupied("r"), 2, "a taken seat still holds its place");
        drop(taken);
        assert!(seats.reserve("r", 2, false, None).is_some());
    }

    #[test]
    fn expired_seats_are_unknown_and_give_their_place_back() {
        let seats = Seats::new(Duration::from_millis(30));
        let token = seats.reserve("r", 1, false, None).expect("free");
        assert!(seats.reserve("r", 1, false, None).is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(seats.take(&token, "r", None).err(), Some(SeatError::Unknown));
        assert!(seats.reserve("r", 1, false, None).is_some(), "the expired seat's place is free");
    }

    #[test]
    fn many_threads_reserving_at_once_fill_a_room_exactly() {
        let seats = Arc::new(Seats::new(Duration::from_secs(15)));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let seats = seats.clone();
                std::thread::spawn(move || (0..50).filter(|_| seats.reserve("r", 100, false, None).is_some()).count())
            })
            .collect();
        let won: usize = handles.into_iter().map(|h| h.join().expect("joins")).sum();
        assert_eq!(won, 100);
        assert_eq!(seats.occupied("r"), 100);
    }
}
