//! A tiny authoritative DNS server on 127.0.0.1 (UDP) for the domain
//! verification tests, built from hickory-proto's message types: it
//! answers TXT queries for the names it was given, NODATA for names that
//! exist without TXT records, and NXDOMAIN for everything else. dns is
//! pointed at it with `--dns-nameservers=127.0.0.1:<port>`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What a name holds: its TXT values (none: the name exists without TXT).
type Names = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// The running responder; stops when dropped.
pub struct Responder {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    names: Names,
    task: JoinHandle<()>,
}

fn key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

impl Responder {
    /// Binds a free port on 127.0.0.1 and starts answering.
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let names: Names = Arc::default();
        let task = tokio::spawn(serve(socket, names.clone()));
        Self { addr, names, task }
    }

    /// The flag pointing dns at this responder.
    pub fn flag(&self) -> String {
        format!("--dns-nameservers={}", self.addr)
    }

    /// Publishes TXT records at `name` (replacing earlier ones); with no
    /// values the name exists but has no TXT record.
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        self.names
            .lock()
            .unwrap()
            .insert(key(name), values.iter().map(|v| v.to_string()).collect());
    }

    /// Removes `name`: NXDOMAIN from now on.
    pub fn remove(&self, name: &str) {
        self.names.lock().unwrap().remove(&key(name));
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(socket: UdpSocket, names: Names) {
    let mut buf = vec![0_u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        let mut response = Message::new(
            query.metadata.id,
            MessageType::Response,
            query.metadata.op_code,
        );
        response.metadata.authoritative = true;
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        for q in &query.queries {
            response.add_query(q.clone());
            let found = names
                .lock()
                .unwrap()
                .get(&key(&q.name().to_ascii()))
                .cloned();
            match found {
                None => response.metadata.response_code = ResponseCode::NXDomain,
                Some(values) if q.query_type() == RecordType::TXT => {
                    for value in values {
                        response.add_answer(Record::from_rdata(
                            q.name().clone(),
                            60,
                            RData::TXT(TXT::new(vec![value])),
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        if let Some(edns) = &query.edns {
            response.set_edns(edns.clone());
        }
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}
