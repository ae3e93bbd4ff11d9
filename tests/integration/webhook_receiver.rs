//! A webhook receiver for tests: a hyper server on `127.0.0.1:0` that records every request
//! and answers each one as the test scripts it (a status, or never).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    Status(u16),
    /// Never answers (the sender's timeout ends the attempt).
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
    /// The status the receiver answered with (`None` for `Hang`).
    pub answered: Option<u16>,
    pub at: std::time::Instant,
}

impl Received {
    pub fn events(&self) -> Vec<Value> {
        self.json["events"].as_array().cloned().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

type Script = dyn Fn(usize) -> Reply + Send + Sync;

struct State {
    requests: Mutex<Vec<Received>>,
    changed: Notify,
    script: Box<Script>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Receiver {
    /// Answers every request with 200.
    pub async fn ok() -> Receiver {
        Receiver::start(|_| Reply::Status(200)).await
    }

    /// Answers request number `n` (from 0) with `script(n)`.
    pub async fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            changed: Notify::new(),
            script: Box::new(script),
        });
        let serving = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(state.clone(), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Events of the requests answered with 2xx, in arrival order.
    pub fn delivered_events(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
            .flat_map(Received::events)
            .collect()
    }

    /// Waits (bounded) until `done` holds for the recorded requests.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) {
        let waiting = async {
            loop {
                let changed = self.state.changed.notified();
                if done(&self.requests()) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .is_err()
        {
            panic!(
                "timed out waiting for {what}; received: {:#?}",
                self.requests()
            );
        }
    }

    /// Waits until at least `n` events were delivered; returns them.
    pub async fn wait_for_events(&self, n: usize) -> Vec<Value> {
        let what = format!("{n} delivered events");
        self.wait_until(&what, |requests| {
            requests
                .iter()
                .filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s)))
                .map(|r| r.events().len())
                .sum::<usize>()
                >= n
        })
        .await;
        self.delivered_events()
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let headers = request.headers().clone();
    let body = request.into_body().collect().await?.to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let reply = {
        let mut requests = state.requests.lock().unwrap();
        let reply = (state.script)(requests.len());
        let answered = match reply {
            Reply::Status(status) => Some(status),
            Reply::Hang => None,
        };
        requests.push(Received {
            headers,
            body,
            json,
            answered,
            at: std::time::Instant::now(),
        });
        reply
    };
    state.changed.notify_waiters();
    match reply {
        Reply::Status(status) => {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
            Ok(response)
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Response::new(Full::new(Bytes::new())))
        }
    }
}
