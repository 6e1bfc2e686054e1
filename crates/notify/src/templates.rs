//! The emails' words: a subject, a plain-text body and an HTML body per [`MessageKind`], built
//! with plain formatting from the order and what the event adds.
//!
//! Every value that comes from data — the shop name, titles, carrier, tracking number, even ids
//! and amounts — goes through [`escape_html`] before it enters the HTML body, so a product called
//! `<script>` is shown, never run. Amounts are written as the currency code and the major-unit
//! amount with as many decimals as the currency has ([`format_money`]: `EUR 12.50`, `JPY 1250`).
//! The fixed words are ASCII, so a message whose data is ASCII travels as 7-bit text.

use std::fmt::Write as _;

use kassa_kernel::Money;
use kassa_orders::{Order, OrderLine};

use crate::model::MessageKind;

/// What an email says beyond the order itself, taken from the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Details {
    Confirmed,
    Shipped {
        /// Units remain to be shipped (`order.partially_fulfilled`).
        partial: bool,
        carrier: String,
        tracking_number: String,
        /// The shipment's lines: SKU and units.
        lines: Vec<(String, u32)>,
    },
    Cancelled {
        /// What was paid back on cancelling; zero when nothing had been captured.
        refunded: Money,
    },
    Refunded {
        /// This refund.
        amount: Money,
        /// Every refund of the order so far, this one included.
        refunded_total: Money,
    },
}

impl Details {
    pub fn kind(&self) -> MessageKind {
        match self {
            Details::Confirmed => MessageKind::OrderConfirmed,
            Details::Shipped { .. } => MessageKind::OrderShipped,
            Details::Cancelled { .. } => MessageKind::OrderCancelled,
            Details::Refunded { .. } => MessageKind::OrderRefunded,
        }
    }
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// `EUR 12.50`, `JPY 1250`, `KWD 1.234`, `EUR -0.05`: the code, then the amount in major units
/// with exactly the currency's number of decimals, no thousands separators.
pub fn format_money(money: Money) -> String {
    let sign = if money.is_negative() { "-" } else { "" };
    let magnitude = money.amount_minor().unsigned_abs();
    let code = money.currency().code();
    let exponent = money.currency().exponent();
    if exponent == 0 {
        return format!("{code} {sign}{magnitude}");
    }
    let divisor = 10_u64.pow(u32::from(exponent));
    let width = usize::from(exponent);
    format!(
        "{code} {sign}{}.{:0width$}",
        magnitude / divisor,
        magnitude % divisor
    )
}

/// `text` safe to place in HTML element content and in quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The email about `order` that `details` describes, signed by `shop`.
pub fn render(shop: &str, order: &Order, details: &Details) -> Rendered {
    let id = order.id.to_string();
    let (subject, intro) = match details {
        Details::Confirmed => (
            format!("{shop}: your order {id} is confirmed"),
            "Thank you for your order. It is confirmed and we are getting it ready.",
        ),
        Details::Shipped { partial: true, .. } => (
            format!("{shop}: part of your order {id} has shipped"),
            "Part of your order is on its way; the rest follows in a later shipment.",
        ),
        Details::Shipped { partial: false, .. } => (
            format!("{shop}: your order {id} has shipped"),
            "Your order is on its way.",
        ),
        Details::Cancelled { .. } => (
            format!("{shop}: your order {id} was cancelled"),
            "Your order has been cancelled.",
        ),
        Details::Refunded { .. } => (
            format!("{shop}: a refund for your order {id}"),
            "We have issued a refund for your order.",
        ),
    };
    Rendered {
        text: text_body(shop, order, intro, details),
        html: html_body(shop, order, &subject, intro, details),
        subject,
    }
}

/// `Mug / Blue`, or just the product's title when the variant has none.
fn line_title(product: &str, variant: &str) -> String {
    if variant.trim().is_empty() {
        product.to_owned()
    } else {
        format!("{product} / {variant}")
    }
}

/// The title a shipped SKU is known by in `order`, or the SKU itself.
fn shipped_title(order: &Order, sku: &str) -> String {
    order
        .lines
        .iter()
        .find(|line| line.sku.as_str() == sku)
        .map(|line| line_title(&line.product_title, &line.variant_title))
        .unwrap_or_else(|| sku.to_owned())
}

fn text_line(line: &OrderLine) -> String {
    format!(
        "- {}: {} x {} = {}",
        line_title(&line.product_title, &line.variant_title),
        line.quantity.get(),
        format_money(line.unit_price),
        format_money(line.line_total)
    )
}

fn text_body(shop: &str, order: &Order, intro: &str, details: &Details) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason only.
    let _ = writeln!(out, "{shop}\n\n{intro}\n\nOrder: {}", order.id);
    match details {
        Details::Shipped {
            carrier,
            tracking_number,
            lines,
            ..
        } => {
            let _ = writeln!(
                out,
                "Carrier: {carrier}\nTracking number: {tracking_number}"
            );
            let _ = writeln!(out, "\nIn this shipment:");
            for (sku, quantity) in lines {
                let _ = writeln!(out, "- {}: {quantity}", shipped_title(order, sku));
            }
        }
        Details::Cancelled { refunded } if refunded.amount_minor() != 0 => {
            let _ = writeln!(out, "Refunded: {}", format_money(*refunded));
        }
        Details::Refunded {
            amount,
            refunded_total,
        } => {
            let _ = writeln!(
                out,
                "Refund: {}\nRefunded so far: {}",
                format_money(*amount),
                format_money(*refunded_total)
            );
        }
        Details::Confirmed | Details::Cancelled { .. } => {}
    }
    let _ = writeln!(out, "\nItems:");
    for line in &order.lines {
        let _ = writeln!(out, "{}", text_line(line));
    }
    let totals = &order.totals;
    let _ = writeln!(
        out,
        "\nSubtotal: {}\nShipping: {}\nTax: {}\nTotal: {}",
        format_money(totals.subtotal),
        format_money(totals.shipping),
        format_money(totals.tax),
        format_money(totals.total)
    );
    let _ = writeln!(out, "\nThank you for shopping at {shop}.");
    out
}

fn html_body(shop: &str, order: &Order, subject: &str, intro: &str, details: &Details) -> String {
    let e = escape_html;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n\
         <h1>{}</h1>\n<p>{}</p>\n<p>Order <strong>{}</strong></p>\n",
        e(subject),
        e(shop),
        e(intro),
        e(&order.id.to_string())
    );
    match details {
        Details::Shipped {
            carrier,
            tracking_number,
            lines,
            ..
        } => {
            let _ = write!(
                out,
                "<p>Carrier: {}<br>Tracking number: <strong>{}</strong></p>\n\
                 <h2>In this shipment</h2>\n<ul>\n",
                e(carrier),
                e(tracking_number)
            );
            for (sku, quantity) in lines {
                let _ = writeln!(
                    out,
                    "<li>{} &times; {}</li>",
                    e(&quantity.to_string()),
                    e(&shipped_title(order, sku))
                );
            }
            out.push_str("</ul>\n");
        }
        Details::Cancelled { refunded } if refunded.amount_minor() != 0 => {
            let _ = writeln!(out, "<p>Refunded: {}</p>", e(&format_money(*refunded)));
        }
        Details::Refunded {
            amount,
            refunded_total,
        } => {
            let _ = writeln!(
                out,
                "<p>Refund: {}<br>Refunded so far: {}</p>",
                e(&format_money(*amount)),
                e(&format_money(*refunded_total))
            );
        }
        Details::Confirmed | Details::Cancelled { .. } => {}
    }
    out.push_str(
        "<table>\n<thead><tr><th>Product</th><th>Variant</th><th>Quantity</th>\
         <th>Unit price</th><th>Total</th></tr></thead>\n<tbody>\n",
    );
    for line in &order.lines {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&line.product_title),
            e(&line.variant_title),
            e(&line.quantity.get().to_string()),
            e(&format_money(line.unit_price)),
            e(&format_money(line.line_total))
        );
    }
    out.push_str("</tbody>\n<tfoot>\n");
    let totals = &order.totals;
    for (label, amount) in [
        ("Subtotal", totals.subtotal),
        ("Shipping", totals.shipping),
        ("Tax", totals.tax),
        ("Total", totals.total),
    ] {
        let _ = writeln!(
            out,
            "<tr><td colspan=\"4\">{label}</td><td>{}</td></tr>",
            e(&format_money(amount))
        );
    }
    let _ = write!(
        out,
        "</tfoot>\n</table>\n<p>Thank you for shopping at {}.</p>\n</body></html>\n",
        e(shop)
    );
    out
}

#[cfg(test)]
mod tests {
    use kassa_kernel::Currency;

    use super::*;

    #[test]
    fn money_has_exactly_the_currencys_decimals() {
        assert_eq!(format_money(Money::new(1250, Currency::Eur)), "EUR 12.50");
        assert_eq!(format_money(Money::new(5, Currency::Eur)), "EUR 0.05");
        assert_eq!(format_money(Money::new(-5, Currency::Usd)), "USD -0.05");
        assert_eq!(format_money(Money::new(1250, Currency::Jpy)), "JPY 1250");
        assert_eq!(format_money(Money::new(1234, Currency::Kwd)), "KWD 1.234");
        assert_eq!(format_money(Money::new(0, Currency::Gbp)), "GBP 0.00");
    }

    #[test]
    fn html_escaping_covers_every_special_character() {
        assert_eq!(
            escape_html(r#"<b>&"it's"</b>"#),
            "&lt;b&gt;&amp;&quot;it&#39;s&quot;&lt;/b&gt;"
        );
        assert_eq!(escape_html("plain"), "plain");
    }

    #[test]
    fn a_variant_without_a_title_shows_the_product_alone() {
        assert_eq!(line_title("Mug", "Blue"), "Mug / Blue");
        assert_eq!(line_title("Mug", " "), "Mug");
    }
}
