//! Cart totals: pure functions from a cart, the catalog's current offers, the chosen shipping
//! option and the tax rate to a [`PricedCart`]. Every read prices the cart anew, so a price
//! change or an archived SKU shows on the next read.
//!
//! # The totals rule
//!
//! All amounts are in the cart's currency, in minor units (cents; yen for JPY). Arithmetic is
//! checked: a result outside the `i64` range is an error (`amount_overflow`), never a wrapped
//! or clamped value.
//!
//! 1. **Lines.** A line is *available* when the catalog knows its SKU, the SKU is purchasable
//!    (its product and variant are active) and it has a price in the cart's currency. Its line
//!    total is unit price × quantity. An unavailable line stays in the cart, marked
//!    `available: false`, and counts toward nothing: not the subtotal, not the weight.
//! 2. **Subtotal** = the sum of the line totals of the available lines.
//! 3. **Shipping.** The cart's weight is the sum of weight × quantity over the available lines,
//!    in grams. A shipping option applies to the cart when it delivers to the shipping
//!    address's country, is in the cart's currency, and, for a weight-tiered rate, has a tier
//!    whose maximum weight is at least the cart's weight. Its quote is the flat amount, or the
//!    amount of the first (lightest) such tier. Shipping = the chosen option's quote if the
//!    option still applies; otherwise 0, and the cart shows no shipping.
//! 4. **Tax.** Prices and shipping amounts are tax-exclusive. Tax = (subtotal + shipping) × the
//!    tax rate of the shipping address's country, rounded **once, on the whole taxable
//!    amount**, to the nearest minor unit, with an exact half rounded away from zero (half-up):
//!    10% of 10.05 EUR is 1.005 EUR, which is charged as 1.01 EUR. Tax is not computed per line,
//!    so no per-line rounding differences add up. Without a shipping address, or without a
//!    rate for its country, tax is 0.
//! 5. **Total** = subtotal + shipping + tax.

use std::collections::HashMap;

use kassa_catalog::Offer;
use kassa_kernel::rounding::{apply_rate, Rate, RoundingMode};
use kassa_kernel::{CountryCode, Currency, Money, MoneyError, Sku};

use crate::model::{
    Cart, CartLine, PricedCart, PricedLine, ShippingOption, ShippingQuote, ShippingRate, TaxRate,
    Totals,
};

/// Tax rounds half away from zero, as most tax authorities expect for an invoice total.
pub const TAX_ROUNDING: RoundingMode = RoundingMode::HalfUp;

/// Prices `cart` with its `lines` from `offers` (the catalog's answer for the lines' SKUs in the
/// cart's currency). `chosen_option` is the option the cart names, if it still exists;
/// `tax_rate` is the rate configured for the address's country, if any. Either is ignored when
/// it does not belong to this cart (another option id, another country).
pub fn price_cart(
    cart: Cart,
    lines: Vec<CartLine>,
    offers: Vec<Offer>,
    chosen_option: Option<&ShippingOption>,
    tax_rate: Option<TaxRate>,
) -> Result<PricedCart, MoneyError> {
    let currency = cart.currency;
    let lines = price_lines(lines, offers, currency)?;
    let subtotal = Money::sum(currency, lines.iter().filter_map(|l| l.line_total))?;
    let country = cart.shipping_address.as_ref().map(|a| a.country());
    let shipping = match (chosen_option, country) {
        (Some(option), Some(country)) if Some(option.id()) == cart.shipping_option_id => {
            quote(option, country, currency, weight_grams(&lines))
        }
        _ => None,
    };
    let tax_rate = tax_rate
        .filter(|rate| Some(rate.country) == country)
        .map(|rate| rate.rate);
    let totals = totals(subtotal, shipping.as_ref(), tax_rate)?;
    Ok(PricedCart {
        cart,
        lines,
        shipping,
        tax_rate,
        totals,
    })
}

/// Pairs each line with its offer and prices the available ones. A price in a currency other
/// than `currency` breaks the catalog's contract and is an error.
pub fn price_lines(
    lines: Vec<CartLine>,
    offers: Vec<Offer>,
    currency: Currency,
) -> Result<Vec<PricedLine>, MoneyError> {
    let mut offers: HashMap<Sku, Offer> = offers.into_iter().map(|o| (o.sku.clone(), o)).collect();
    lines
        .into_iter()
        .map(|line| {
            let offer = offers.remove(&line.sku);
            price_line(line, offer, currency)
        })
        .collect()
}

fn price_line(
    line: CartLine,
    offer: Option<Offer>,
    currency: Currency,
) -> Result<PricedLine, MoneyError> {
    let unit_price = offer
        .as_ref()
        .filter(|offer| offer.purchasable)
        .and_then(|offer| offer.unit_price);
    let line_total = match unit_price {
        Some(price) if price.currency() != currency => {
            return Err(MoneyError::CurrencyMismatch {
                left: currency,
                right: price.currency(),
            })
        }
        Some(price) => Some(price.checked_mul(line.quantity.get())?),
        None => None,
    };
    Ok(PricedLine {
        available: line_total.is_some(),
        line,
        offer,
        unit_price,
        line_total,
    })
}

/// Sum of weight × quantity over the available lines, in grams. It saturates instead of
/// overflowing: any weight beyond `u32::MAX` grams is heavier than every tier, so the
/// saturated value gives the same answer as the exact one.
pub fn weight_grams(lines: &[PricedLine]) -> u64 {
    lines
        .iter()
        .filter(|line| line.available)
        .filter_map(|line| {
            let grams = line.offer.as_ref()?.weight_grams;
            Some(u64::from(grams).saturating_mul(u64::from(line.line.quantity.get())))
        })
        .fold(0_u64, u64::saturating_add)
}

/// What `option` costs for a cart of `weight_grams` in `currency` shipping to `country`, or
/// `None` if the option does not apply to such a cart.
pub fn quote(
    option: &ShippingOption,
    country: CountryCode,
    currency: Currency,
    weight_grams: u64,
) -> Option<ShippingQuote> {
    if !option.delivers_to(country) || option.currency() != currency {
        return None;
    }
    let amount = match option.rate() {
        ShippingRate::Flat { amount } => *amount,
        ShippingRate::WeightTiers(tiers) => {
            tiers
                .iter()
                .find(|tier| u64::from(tier.max_weight_grams) >= weight_grams)?
                .amount
        }
    };
    Some(ShippingQuote {
        option_id: option.id(),
        name: option.name().to_owned(),
        amount,
    })
}

/// The quotes of the options that apply, cheapest first (then by name, then by id, so the order
/// is stable).
pub fn quotes(
    options: &[ShippingOption],
    country: CountryCode,
    currency: Currency,
    weight_grams: u64,
) -> Vec<ShippingQuote> {
    let mut quotes: Vec<ShippingQuote> = options
        .iter()
        .filter_map(|option| quote(option, country, currency, weight_grams))
        .collect();
    quotes.sort_by(|a, b| {
        (a.amount.amount_minor(), &a.name, a.option_id).cmp(&(
            b.amount.amount_minor(),
            &b.name,
            b.option_id,
        ))
    });
    quotes
}

/// Steps 3 to 5 of the rule, given the subtotal, the applying shipping quote and the rate.
pub fn totals(
    subtotal: Money,
    shipping: Option<&ShippingQuote>,
    tax_rate: Option<Rate>,
) -> Result<Totals, MoneyError> {
    let currency = subtotal.currency();
    let shipping = shipping.map_or(Money::zero(currency), |quote| quote.amount);
    let taxable = subtotal.checked_add(shipping)?;
    let tax = match tax_rate {
        Some(rate) => apply_rate(taxable, rate, TAX_ROUNDING)?,
        None => Money::zero(currency),
    };
    let total = taxable.checked_add(tax)?;
    Ok(Totals {
        subtotal,
        shipping,
        tax,
        total,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Address, AddressInput, NewShippingOption, WeightTier};
    use kassa_kernel::ids::{CartId, CartLineId, ProductId, ShippingOptionId, VariantId};
    use kassa_kernel::{Quantity, Timestamp};

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn country(s: &str) -> CountryCode {
        CountryCode::parse(s).unwrap()
    }

    fn percent(s: &str) -> Rate {
        Rate::parse_percent(s).unwrap()
    }

    fn cart(currency: Currency, ship_to: Option<&str>, option: Option<&ShippingOption>) -> Cart {
        let address = ship_to.map(|code| {
            Address::parse(AddressInput {
                name: "Ada Lovelace".into(),
                line1: "1 Analytical Way".into(),
                city: "London".into(),
                postal_code: "N1 9GU".into(),
                country: code.into(),
                ..AddressInput::default()
            })
            .unwrap()
        });
        Cart {
            id: CartId::new(),
            currency,
            email: None,
            shipping_address: address,
            shipping_option_id: option.map(ShippingOption::id),
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn line(code: &str, quantity: u32) -> CartLine {
        CartLine {
            id: CartLineId::new(),
            sku: sku(code),
            quantity: Quantity::new(quantity).unwrap(),
            created_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn offer(code: &str, price: Option<Money>, grams: u32, purchasable: bool) -> Offer {
        Offer {
            sku: sku(code),
            product_id: ProductId::new(),
            variant_id: VariantId::new(),
            product_title: format!("Product {code}"),
            variant_title: "Default".into(),
            weight_grams: grams,
            unit_price: price,
            purchasable,
        }
    }

    fn option(
        name: &str,
        countries: &[&str],
        currency: Currency,
        rate: ShippingRate,
    ) -> ShippingOption {
        let countries = countries.iter().map(|c| country(c)).collect();
        let new = NewShippingOption::parse(name, countries, currency, rate).unwrap();
        ShippingOption::new(ShippingOptionId::new(), new)
    }

    fn tiers(currency: Currency, bands: &[(u32, i64)]) -> ShippingRate {
        ShippingRate::WeightTiers(
            bands
                .iter()
                .map(|&(max_weight_grams, amount)| WeightTier {
                    max_weight_grams,
                    amount: Money::new(amount, currency),
                })
                .collect(),
        )
    }

    fn tax(code: &str, rate: &str) -> TaxRate {
        TaxRate {
            country: country(code),
            rate: percent(rate),
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn minor(totals: &Totals) -> [i64; 4] {
        [
            totals.subtotal.amount_minor(),
            totals.shipping.amount_minor(),
            totals.tax.amount_minor(),
            totals.total.amount_minor(),
        ]
    }

    #[test]
    fn a_mixed_usd_cart_counts_only_available_lines_and_taxes_subtotal_plus_shipping() {
        let usd = |a| Some(Money::new(a, Currency::Usd));
        let ground = option(
            "Ground",
            &["US"],
            Currency::Usd,
            tiers(Currency::Usd, &[(1_000, 595), (5_000, 1_295)]),
        );
        let priced = price_cart(
            cart(Currency::Usd, Some("US"), Some(&ground)),
            vec![
                line("TSHIRT-RED-M", 2),
                line("MUG-BLUE", 3),
                line("POSTER-OLD", 1),
                line("SOCKS-EUR-ONLY", 1),
                line("GONE", 4),
            ],
            vec![
                offer("TSHIRT-RED-M", usd(1_999), 200, true),
                offer("MUG-BLUE", usd(1_250), 450, true),
                offer("POSTER-OLD", usd(4_000), 100, false),
                offer("SOCKS-EUR-ONLY", None, 80, true),
            ],
            Some(&ground),
            Some(tax("US", "8.875")),
        )
        .unwrap();

        let available: Vec<bool> = priced.lines.iter().map(|l| l.available).collect();
        assert_eq!(available, [true, true, false, false, false]);
        assert_eq!(priced.lines[0].line_total, usd(3_998));
        assert_eq!(priced.lines[1].line_total, usd(3_750));
        assert!(priced.lines[2..]
            .iter()
            .all(|l| l.unit_price.is_none() && l.line_total.is_none()));
        assert!(priced.lines[4].offer.is_none());
        // Weight: 2 × 200 + 3 × 450 = 1750 g, so the second tier.
        assert_eq!(
            priced.shipping.as_ref().map(|q| q.amount),
            Some(Money::new(1_295, Currency::Usd))
        );
        assert_eq!(priced.tax_rate, Some(percent("8.875")));
        // Taxable 7748 + 1295 = 9043; × 8.875% = 802.566… → 803.
        assert_eq!(minor(&priced.totals), [7_748, 1_295, 803, 9_846]);
    }

    #[test]
    fn a_eur_cart_with_flat_shipping_and_vat_is_right_to_the_cent() {
        let eur = |a| Some(Money::new(a, Currency::Eur));
        let dhl = option(
            "DHL Paket",
            &["DE", "AT"],
            Currency::Eur,
            ShippingRate::Flat {
                amount: Money::new(499, Currency::Eur),
            },
        );
        let priced = price_cart(
            cart(Currency::Eur, Some("DE"), Some(&dhl)),
            vec![line("BOOK-1", 3), line("PEN-2", 7)],
            vec![
                offer("BOOK-1", eur(1_299), 350, true),
                offer("PEN-2", eur(149), 10, true),
            ],
            Some(&dhl),
            Some(tax("DE", "19")),
        )
        .unwrap();
        // 3 × 12.99 + 7 × 1.49 = 38.97 + 10.43 = 49.40; + 4.99 = 54.39; 19% = 10.3341 → 10.33.
        assert_eq!(minor(&priced.totals), [4_940, 499, 1_033, 6_472]);
        assert_eq!(
            priced.shipping.map(|q| q.name),
            Some("DHL Paket".to_owned())
        );
    }

    #[test]
    fn tax_is_rounded_once_on_the_whole_taxable_amount_with_halves_away_from_zero() {
        let subtotal = Money::new(1_005, Currency::Eur);
        let totals = totals(subtotal, None, Some(percent("10"))).unwrap();
        assert_eq!(minor(&totals), [1_005, 0, 101, 1_106]);
        // Just below half rounds down.
        let totals =
            super::totals(Money::new(1_004, Currency::Eur), None, Some(percent("10"))).unwrap();
        assert_eq!(totals.tax.amount_minor(), 100);
    }

    #[test]
    fn per_line_rounding_would_differ_but_the_cart_rounds_once() {
        let eur = |a| Some(Money::new(a, Currency::Eur));
        // Three lines of 0.05 at 10%: per line 0.005 → 0.01 each (0.03); on the whole 0.015 → 0.02.
        let priced = price_cart(
            cart(Currency::Eur, Some("FR"), None),
            vec![line("A", 1), line("B", 1), line("C", 1)],
            vec![
                offer("A", eur(5), 1, true),
                offer("B", eur(5), 1, true),
                offer("C", eur(5), 1, true),
            ],
            None,
            Some(tax("FR", "10")),
        )
        .unwrap();
        assert_eq!(minor(&priced.totals), [15, 0, 2, 17]);
    }

    #[test]
    fn a_jpy_cart_has_no_minor_digits_to_round_into() {
        let jpy = |a| Some(Money::new(a, Currency::Jpy));
        let yamato = option(
            "Yamato",
            &["JP"],
            Currency::Jpy,
            ShippingRate::Flat {
                amount: Money::new(800, Currency::Jpy),
            },
        );
        let priced = price_cart(
            cart(Currency::Jpy, Some("JP"), Some(&yamato)),
            vec![line("TEA-SENCHA", 3)],
            vec![offer("TEA-SENCHA", jpy(1_650), 100, true)],
            Some(&yamato),
            Some(tax("JP", "10")),
        )
        .unwrap();
        // 4950 + 800 = 5750; 10% = 575 exactly.
        assert_eq!(minor(&priced.totals), [4_950, 800, 575, 6_325]);
        // 1005 yen at 10% is 100.5 yen → 101 yen.
        let totals = totals(Money::new(1_005, Currency::Jpy), None, Some(percent("10"))).unwrap();
        assert_eq!(totals.tax, Money::new(101, Currency::Jpy));
    }

    #[test]
    fn without_an_address_there_is_no_shipping_and_no_tax() {
        let flat = option(
            "Flat",
            &["US"],
            Currency::Usd,
            ShippingRate::Flat {
                amount: Money::new(500, Currency::Usd),
            },
        );
        let priced = price_cart(
            cart(Currency::Usd, None, Some(&flat)),
            vec![line("A", 1)],
            vec![offer("A", Some(Money::new(1_000, Currency::Usd)), 1, true)],
            Some(&flat),
            Some(tax("US", "10")),
        )
        .unwrap();
        assert_eq!(priced.shipping, None);
        assert_eq!(priced.tax_rate, None);
        assert_eq!(minor(&priced.totals), [1_000, 0, 0, 1_000]);
    }

    #[test]
    fn a_rate_or_option_for_another_country_is_ignored() {
        let flat = option(
            "Flat",
            &["US"],
            Currency::Usd,
            ShippingRate::Flat {
                amount: Money::new(500, Currency::Usd),
            },
        );
        let priced = price_cart(
            cart(Currency::Usd, Some("CA"), Some(&flat)),
            vec![line("A", 1)],
            vec![offer("A", Some(Money::new(1_000, Currency::Usd)), 1, true)],
            Some(&flat),
            Some(tax("US", "10")),
        )
        .unwrap();
        assert_eq!(priced.shipping, None);
        assert_eq!(priced.tax_rate, None);
        assert_eq!(minor(&priced.totals), [1_000, 0, 0, 1_000]);
    }

    #[test]
    fn weight_tiers_quote_the_first_tier_that_holds_the_weight_and_nothing_past_the_last() {
        let tiered = option(
            "Parcel",
            &["SE"],
            Currency::Sek,
            tiers(Currency::Sek, &[(500, 4_900), (2_000, 7_900)]),
        );
        let at = |grams| {
            quote(&tiered, country("SE"), Currency::Sek, grams).map(|q| q.amount.amount_minor())
        };
        assert_eq!(at(0), Some(4_900));
        assert_eq!(at(500), Some(4_900));
        assert_eq!(at(501), Some(7_900));
        assert_eq!(at(2_000), Some(7_900));
        assert_eq!(at(2_001), None);
        assert_eq!(at(u64::MAX), None);
        assert_eq!(quote(&tiered, country("NO"), Currency::Sek, 1), None);
        assert_eq!(quote(&tiered, country("SE"), Currency::Eur, 1), None);
    }

    #[test]
    fn quotes_are_cheapest_first() {
        let usd = |a| ShippingRate::Flat {
            amount: Money::new(a, Currency::Usd),
        };
        let options = [
            option("Express", &["US"], Currency::Usd, usd(2_500)),
            option("Ground", &["US"], Currency::Usd, usd(500)),
            option("Canada Post", &["CA"], Currency::Usd, usd(100)),
        ];
        let names: Vec<String> = quotes(&options, country("US"), Currency::Usd, 0)
            .into_iter()
            .map(|q| q.name)
            .collect();
        assert_eq!(names, ["Ground", "Express"]);
    }

    #[test]
    fn overflowing_totals_are_an_error_not_a_wrap() {
        let huge = Some(Money::new(i64::MAX / 2, Currency::Usd));
        let result = price_cart(
            cart(Currency::Usd, None, None),
            vec![line("A", 3)],
            vec![offer("A", huge, 1, true)],
            None,
            None,
        );
        assert_eq!(result, Err(MoneyError::Overflow));
        let max = Money::new(i64::MAX, Currency::Usd);
        let shipping = ShippingQuote {
            option_id: ShippingOptionId::new(),
            name: "x".into(),
            amount: Money::new(1, Currency::Usd),
        };
        assert_eq!(
            totals(max, Some(&shipping), None),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn a_price_in_another_currency_is_refused_as_a_broken_contract() {
        let result = price_lines(
            vec![line("A", 1)],
            vec![offer("A", Some(Money::new(1, Currency::Eur)), 1, true)],
            Currency::Usd,
        );
        assert!(matches!(result, Err(MoneyError::CurrencyMismatch { .. })));
    }

    #[test]
    fn the_weight_counts_only_available_lines() {
        let usd = |a| Some(Money::new(a, Currency::Usd));
        let lines = price_lines(
            vec![line("A", 3), line("B", 2)],
            vec![
                offer("A", usd(1), 1_000, true),
                offer("B", usd(1), 5_000, false),
            ],
            Currency::Usd,
        )
        .unwrap();
        assert_eq!(weight_grams(&lines), 3_000);
    }
}
