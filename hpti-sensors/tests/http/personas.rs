//! WordPress and phpMyAdmin personas against the captures of the real products
//! (`testdata/http/wordpress-debian/`, `testdata/http/phpmyadmin-debian/`).

#[allow(unused_imports)]
use super::{Harness, compare_captures};
