//! WebSocket close codes (PROTOCOL §6) and whether a client should reconnect after each.

/// A close code socfeed sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCode(pub u16);

impl CloseCode {
    pub const NORMAL: CloseCode = CloseCode(1000);
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// Try again later: the engine is out of reach (or the history was reset); reconnect with
    /// the cursor.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    pub const UNAUTHORIZED: CloseCode = CloseCode(4001);
    pub const HEARTBEAT_TIMEOUT: CloseCode = CloseCode(4002);
    pub const FORBIDDEN: CloseCode = CloseCode(4003);
    pub const SLOW_CONSUMER: CloseCode = CloseCode(4008);
    pub const TOO_MANY: CloseCode = CloseCode(4029);

    /// The reason text sent with the code.
    pub fn reason(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "server shutting down",
            1009 => "message too big",
            1011 => "internal error",
            1013 => "try again later",
            4001 => "unauthorized",
            4002 => "heartbeat timeout",
            4003 => "forbidden",
            4008 => "slow consumer",
            4029 => "too many connections or messages",
            _ => "",
        }
    }

    /// Whether a client should reconnect (and resume) after this code without asking its user:
    /// `false` for 4001 and 4003, which need a new token or new rights.
    pub fn should_reconnect(self) -> bool {
        !matches!(self.0, 4001 | 4003)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_codes_are_terminal() {
        assert!(!CloseCode::UNAUTHORIZED.should_reconnect());
        assert!(!CloseCode::FORBIDDEN.should_reconnect());
        assert!(CloseCode::SLOW_CONSUMER.should_reconnect());
        assert!(CloseCode::GOING_AWAY.should_reconnect());
    }
}
