//! The leave delay: `channel_vacated` and `member_removed` are held for a short time and
//! dropped, together with the `channel_occupied` / `member_added` that follows, when the
//! channel is reoccupied or the user rejoins within it. A page reload then produces no
//! webhook at all instead of a vacate/occupy pair.
//!
//! Pure state: the caller passes every instant, so tests drive it with paused time and the
//! delivery worker decides when to look. Nothing here sends, sleeps or logs.

use sockwave_protocol::AppId;
use std::collections::{HashMap, VecDeque};

use tokio::time::{Duration, Instant};

use super::Queued;
use crate::app::EventType;

/// What a held event is waiting for: the same app, channel and (for members) user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HoldKey {
    app_id: AppId,
    channel: String,
    user_id: Option<String>,
}

impl HoldKey {
    fn of(item: &Queued) -> HoldKey {
        HoldKey {
            app_id: item.app.id.clone(),
            channel: item.event.channel().to_string(),
            user_id: item.event.member().map(String::from),
        }
    }
}

/// Held leave events, released when their delay is over unless a join cancels them.
#[derive(Debug)]
pub(crate) struct LeaveHold {
    delay: Duration,
    held: HashMap<HoldKey, (u64, Queued)>,
    /// Release order with deadlines. Entries whose sequence number is no longer in `held`
    /// were cancelled and are skipped; removing them lazily keeps cancelling O(1).
    order: VecDeque<(Instant, HoldKey, u64)>,
    next_seq: u64,
}

impl LeaveHold {
    /// A hold with this delay; a zero delay holds nothing.
    pub(crate) fn new(delay: Duration) -> LeaveHold {
        LeaveHold {
            delay,
            held: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// Takes one event. Returns it when it should go on now; returns `None` when it is held
    /// (a leave), or when it cancelled a held leave (a join within the delay: both vanish).
    pub(crate) fn offer(&mut self, item: Queued) -> Option<Queued> {
        let kind = item.event.kind();
        let is_leave = matches!(kind, EventType::ChannelVacated | EventType::MemberRemoved);
        if is_leave && !self.delay.is_zero() {
            let key = HoldKey::of(&item);
            // A second identical leave without a join in between changes nothing: the
            // first one already says the channel (or member) is gone.
            if !self.held.contains_key(&key) {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.order
                    .push_back((item.at + self.delay, key.clone(), seq));
                self.held.insert(key, (seq, item));
            }
            return None;
        }
        if kind.cancels().is_some() && self.held.remove(&HoldKey::of(&item)).is_some() {
            self.skip_cancelled();
            return None;
        }
        Some(item)
    }

    /// Held events whose delay ended at or before `horizon`, oldest first.
    pub(crate) fn release_due(&mut self, horizon: Instant) -> Vec<Queued> {
        let mut released = Vec::new();
        while let Some((deadline, _, _)) = self.order.front() {
            if *deadline > horizon {
                break;
            }
            let (_, key, seq) = self.order.pop_front().expect("front exists");
            if let Some(item) = self.take_live(&key, seq) {
                released.push(item);
            }
        }
        self.skip_cancelled();
        released
    }

    /// Every held event, oldest first (shutdown: nothing may wait any more).
    pub(crate) fn release_all(&mut self) -> Vec<Queued> {
        let order = std::mem::take(&mut self.order);
        order
            .into_iter()
            .filter_map(|(_, key, seq)| self.take_live(&key, seq))
            .collect()
    }

    /// When the next held event is due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.order.front().map(|(deadline, _, _)| *deadline)
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    fn take_live(&mut self, key: &HoldKey, seq: u64) -> Option<Queued> {
        match self.held.get(key) {
            Some((live_seq, _)) if *live_seq == seq => self.held.remove(key).map(|(_, item)| item),
            _ => None,
        }
    }

    /// Drops cancelled entries from the front so `next_deadline` is a real deadline.
    fn skip_cancelled(&mut self) {
        while let Some((_, key, seq)) = self.order.front() {
            if self.held.get(key).is_some_and(|(live, _)| live == seq) {
                break;
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::App;
    use crate::webhooks::WebhookEvent;

    const DELAY: Duration = Duration::from_secs(3);

    fn item(event: WebhookEvent) -> Queued {
        Queued {
            app: Arc::new(App::default_dev()),
            event,
            at: Instant::now(),
        }
    }

    fn vacated() -> Queued {
        item(WebhookEvent::ChannelVacated {
            channel: "c".into(),
        })
    }

    fn occupied() -> Queued {
        item(WebhookEvent::ChannelOccupied {
            channel: "c".into(),
        })
    }

    fn member(added: bool, user: &str) -> Queued {
        let (channel, user_id) = ("presence-c".to_string(), user.to_string());
        item(if added {
            WebhookEvent::MemberAdded { channel, user_id }
        } else {
            WebhookEvent::MemberRemoved { channel, user_id }
        })
    }

    fn names(items: Vec<Queued>) -> Vec<&'static str> {
        items.iter().map(|q| q.event.kind().name()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn reload_within_the_delay_sends_nothing() {
        let mut hold = LeaveHold::new(DELAY);
        assert!(
            hold.offer(occupied()).is_some(),
            "a first occupy goes on at once"
        );
        assert!(hold.offer(vacated()).is_none());
        tokio::time::advance(Duration::from_millis(2900)).await;
        assert!(names(hold.release_due(Instant::now())).is_empty());
        assert!(
            hold.offer(occupied()).is_none(),
            "the reoccupy cancels the vacate"
        );
        tokio::time::advance(DELAY).await;
        assert!(names(hold.release_due(Instant::now())).is_empty());
        assert!(hold.is_empty());
        assert_eq!(hold.next_deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_for_longer_sends_the_vacate_after_the_delay() {
        let mut hold = LeaveHold::new(DELAY);
        assert!(hold.offer(vacated()).is_none());
        let due = Instant::now() + DELAY;
        assert_eq!(hold.next_deadline(), Some(due));
        tokio::time::advance(DELAY - Duration::from_millis(1)).await;
        assert!(hold.release_due(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(names(hold.release_due(Instant::now())), ["channel_vacated"]);
        assert!(hold.offer(occupied()).is_some(), "nothing left to cancel");
    }

    #[tokio::test(start_paused = true)]
    async fn members_are_held_per_user() {
        let mut hold = LeaveHold::new(DELAY);
        assert!(hold.offer(member(false, "ann")).is_none());
        assert!(hold.offer(member(false, "bob")).is_none());
        assert!(hold.offer(member(true, "ann")).is_none(), "ann came back");
        assert!(hold.offer(member(true, "cat")).is_some(), "cat is new");
        tokio::time::advance(DELAY).await;
        let released = hold.release_due(Instant::now());
        assert_eq!(names(released.clone()), ["member_removed"]);
        assert_eq!(released[0].event.member(), Some("bob"));
    }

    #[tokio::test(start_paused = true)]
    async fn release_all_and_zero_delay() {
        let mut hold = LeaveHold::new(DELAY);
        hold.offer(vacated());
        hold.offer(member(false, "ann"));
        assert_eq!(
            names(hold.release_all()),
            ["channel_vacated", "member_removed"]
        );
        assert!(hold.is_empty());
        let mut none = LeaveHold::new(Duration::ZERO);
        assert!(none.offer(vacated()).is_some());
        assert!(none.offer(occupied()).is_some());
    }
}
