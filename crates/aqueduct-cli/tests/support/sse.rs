//! A server-sent events client as a browser's `EventSource` would be: one
//! `GET`, kept open, each `data:` line collected as it arrives.

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// An open event stream; the connection closes when it is dropped.
pub struct EventStream {
    events: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl EventStream {
    /// Opens `url` and returns once the server answered 200 (from then on
    /// the server counts this client as connected), or panics.
    pub fn open(url: &str) -> EventStream {
        let events = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (status_tx, status_rx) = mpsc::channel::<Result<u16, String>>();
        let sink = events.clone();
        let target = url.to_string();
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = status_tx.send(Err("no runtime".into()));
                return;
            };
            rt.block_on(async move {
                let response = match reqwest::Client::new()
                    .get(&target)
                    .header("Accept", "text/event-stream")
                    .send()
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = status_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = status_tx.send(Ok(response.status().as_u16()));
                let mut response = response;
                let mut pending = String::new();
                tokio::pin!(stopped);
                loop {
                    let chunk = tokio::select! {
                        c = response.chunk() => c,
                        _ = &mut stopped => return,
                    };
                    let Ok(Some(chunk)) = chunk else { return };
                    pending.push_str(&String::from_utf8_lossy(&chunk));
                    // only whole lines: a chunk may end inside one
                    while let Some(end) = pending.find('\n') {
                        let line: String = pending.drain(..=end).collect();
                        if let Some(data) = line.trim_end().strip_prefix("data:")
                            && let Ok(mut events) = sink.lock()
                        {
                            events.push(data.trim_start().to_string());
                        }
                    }
                }
            });
        });
        match status_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(200)) => {}
            other => panic!("GET {url} as an event stream: {other:?}"),
        }
        EventStream {
            events,
            stop: Some(stop),
        }
    }

    /// The `data` of every event received so far, as sent.
    pub fn raw(&self) -> Vec<String> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The `data` of every event received so far, each parsed as JSON.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.raw()
            .iter()
            .map(|d| {
                serde_json::from_str(d).unwrap_or_else(|e| panic!("event `{d}` is not JSON: {e}"))
            })
            .collect()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
