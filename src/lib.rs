//! anyctr
