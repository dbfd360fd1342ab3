//! Protocol tests over real TCP against a server on 127.0.0.1:0.

mod aisoc;
mod auth;
mod cluster;
mod fanout;
mod govern;
mod history;
mod limits;
mod model;
mod ops;
mod publish;
mod seam;
mod sse;
mod wsproto;
