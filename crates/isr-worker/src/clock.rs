//! The Worker's clock: the platform's time, plus an offset that only a test can set.
//!
//! workerd's clock cannot be moved by a test, so tests bind a service named
//! [`TEST_CLOCK_BINDING`]: once per request the Worker asks it how many milliseconds to add
//! (its answer is the offset as a decimal number), and passes the same offset on to the
//! Durable Object with every call, so both judge time alike.
//!
//! Invariants:
//! - Without that binding (every real deployment) the offset is 0. The offset comes from a
//!   binding only the deployment's own configuration can create, never from anything a
//!   client sends: no request can move the clock.
//! - The offset only adds: the clock is the platform's time at least.

use isr_core::UnixMillis;
use worker::Env;

/// The service binding a test gives the Worker to move its clock.
pub(crate) const TEST_CLOCK_BINDING: &str = "ISR_TEST_CLOCK";

/// The Worker's time: the platform's, plus the test offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Clock {
    offset_ms: u64,
}

impl Clock {
    /// The clock of this request: with [`TEST_CLOCK_BINDING`]'s offset when the deployment
    /// has that binding (tests only), else the platform's time.
    pub(crate) async fn of(env: &Env) -> Clock {
        let Ok(service) = env.service(TEST_CLOCK_BINDING) else {
            return Clock::default();
        };
        let asked = async {
            let mut answer = service.fetch("https://isr-test-clock/", None).await?;
            answer.text().await
        };
        match asked.await.map(|text| text.trim().parse::<u64>()) {
            Ok(Ok(offset_ms)) => Clock { offset_ms },
            Ok(Err(error)) => {
                worker::console_error!("isr: {TEST_CLOCK_BINDING} answered no offset: {error}");
                Clock::default()
            }
            Err(error) => {
                worker::console_error!("isr: {TEST_CLOCK_BINDING} could not be asked: {error}");
                Clock::default()
            }
        }
    }

    /// A clock `offset_ms` ahead of the platform's (as the Worker passed it on).
    pub(crate) fn ahead_by(offset_ms: u64) -> Clock {
        Clock { offset_ms }
    }

    /// How far ahead of the platform's time this clock is.
    pub(crate) fn offset_ms(self) -> u64 {
        self.offset_ms
    }

    /// The current time.
    pub(crate) fn now(self) -> UnixMillis {
        // `Date.now()` is a whole number of milliseconds, well within u64.
        let platform = js_sys::Date::now() as u64;
        UnixMillis(platform.saturating_add(self.offset_ms))
    }
}
