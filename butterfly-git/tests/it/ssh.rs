//! SSH push (next).
