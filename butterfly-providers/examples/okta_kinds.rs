//! Print the Okta resource catalogue as a Markdown table (kind, endpoint, scope).
//!
//! ```sh
//! cargo run -p butterfly-providers --example okta_kinds > OKTA_KINDS.md
//! ```

fn main() {
    print!("{}", butterfly_providers::okta::kinds::markdown_table());
}
