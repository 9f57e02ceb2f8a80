//! `GET /events`: server-sent events telling open pages that config or delivery moved, so
//! they re-fetch themselves (`console.js`). Events carry no data beyond a counter: what a
//! page shows is read again through its own scoped handler.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use crate::server::ui::Console;
use crate::server::ui::session::Session;

/// At most one event per this long: a burst of changes is one refresh.
const SETTLE: Duration = Duration::from_millis(300);

/// The event stream, until shutdown or the browser goes away; for a signed-in caller only.
pub async fn stream(State(console): State<Console>, _: Session) -> Response {
    let mut revisions = console.engine.store().subscribe();
    let mut deliveries = console.engine.store().subscribe_delivery();
    let stop = console.shutdown.clone();
    let events = async_stream::stream! {
        let mut count: u64 = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                changed = revisions.changed() => if changed.is_err() { break },
                changed = deliveries.changed() => if changed.is_err() { break },
            }
            tokio::time::sleep(SETTLE).await;
            // What moved meanwhile is covered by this event.
            revisions.borrow_and_update();
            deliveries.borrow_and_update();
            count += 1;
            yield Ok::<Event, Infallible>(Event::default().event("change").data(count.to_string()));
        }
    };
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
