//! `kassa seed`: a small demo shop, so a person trying kassa has something to browse and buy.
//!
//! Everything is looked up by its natural key (category and product handle, shipping option
//! name, tax country) before it is created, so running the seed twice changes nothing.

use kassa_cart::{NewShippingOption, ShippingRate, WeightTier};
use kassa_catalog::{Handle, NewCategory, NewProduct, NewVariant, OptionValue, Title};
use kassa_kernel::rounding::Rate;
use kassa_kernel::{CountryCode, Currency, Money, Sku};

use crate::Districts;

/// What one run of the seed created.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    pub categories_created: usize,
    pub products_created: usize,
    pub shipping_options_created: usize,
    pub tax_rates_set: usize,
}

struct Design {
    category: &'static str,
    handle: &'static str,
    title: &'static str,
    description: &'static str,
    /// Option name and values: each value becomes a variant.
    option: (&'static str, &'static [&'static str]),
    usd_minor: i64,
    eur_minor: i64,
    weight_grams: u32,
}

const CATEGORIES: &[(&str, &str)] = &[
    ("t-shirts", "T-shirts"),
    ("hoodies", "Hoodies"),
    ("mugs", "Mugs"),
    ("posters", "Posters"),
    ("accessories", "Accessories"),
];

const SIZES: &[&str] = &["S", "M", "L", "XL"];
const MUG_SIZES: &[&str] = &["250ML", "350ML"];
const POSTER_SIZES: &[&str] = &["A3", "A2", "A1"];
const COLOURS: &[&str] = &["BLACK", "WHITE", "NAVY"];

const DESIGNS: &[Design] = &[
    tee(
        "tee-aurora",
        "Aurora T-shirt",
        "Northern lights over a quiet fjord.",
    ),
    tee(
        "tee-basalt",
        "Basalt T-shirt",
        "Hexagonal columns, printed in charcoal.",
    ),
    tee(
        "tee-cirrus",
        "Cirrus T-shirt",
        "High clouds on soft organic cotton.",
    ),
    tee(
        "tee-delta",
        "Delta T-shirt",
        "A river mouth seen from orbit.",
    ),
    tee("tee-ember", "Ember T-shirt", "The last glow of a campfire."),
    tee("tee-fjord", "Fjord T-shirt", "Steep walls, still water."),
    tee(
        "tee-glacier",
        "Glacier T-shirt",
        "Blue ice in fine line art.",
    ),
    tee(
        "tee-harbour",
        "Harbour T-shirt",
        "Boats at rest before dawn.",
    ),
    hoodie(
        "hoodie-ironwood",
        "Ironwood Hoodie",
        "Heavyweight fleece, brushed inside.",
    ),
    hoodie(
        "hoodie-juniper",
        "Juniper Hoodie",
        "Garment-dyed, relaxed fit.",
    ),
    hoodie(
        "hoodie-kestrel",
        "Kestrel Hoodie",
        "Zip front, two deep pockets.",
    ),
    hoodie(
        "hoodie-lumen",
        "Lumen Hoodie",
        "Reflective print for dark evenings.",
    ),
    hoodie(
        "hoodie-moraine",
        "Moraine Hoodie",
        "Stone-washed, made to last.",
    ),
    mug(
        "mug-nimbus",
        "Nimbus Mug",
        "Stoneware with a cloud-white glaze.",
    ),
    mug(
        "mug-obsidian",
        "Obsidian Mug",
        "Matte black, dishwasher safe.",
    ),
    mug("mug-pebble", "Pebble Mug", "Speckled glaze, hand-finished."),
    mug("mug-quartz", "Quartz Mug", "Translucent porcelain."),
    mug("mug-rime", "Rime Mug", "Frosted glaze, double-walled."),
    poster(
        "poster-solstice",
        "Solstice Poster",
        "Midsummer sun over the sea.",
    ),
    poster(
        "poster-tundra",
        "Tundra Poster",
        "Lichen and stone, risograph print.",
    ),
    poster(
        "poster-umbra",
        "Umbra Poster",
        "A total eclipse in two inks.",
    ),
    poster(
        "poster-vale",
        "Vale Poster",
        "A green valley in morning mist.",
    ),
    poster(
        "poster-wadden",
        "Wadden Poster",
        "Tidal flats at low water.",
    ),
    accessory(
        "cap-xylem",
        "Xylem Cap",
        "Six-panel cap, waxed cotton.",
        2400,
        2200,
        120,
    ),
    accessory(
        "tote-yarrow",
        "Yarrow Tote",
        "Canvas tote, long handles.",
        1800,
        1700,
        250,
    ),
    accessory(
        "beanie-zephyr",
        "Zephyr Beanie",
        "Merino rib knit.",
        2600,
        2400,
        90,
    ),
    accessory(
        "socks-alder",
        "Alder Socks",
        "Cushioned hiking socks.",
        1400,
        1300,
        80,
    ),
    accessory(
        "scarf-birch",
        "Birch Scarf",
        "Lambswool, woven in Scotland.",
        5400,
        4900,
        200,
    ),
    accessory(
        "bottle-cedar",
        "Cedar Bottle",
        "Insulated steel, 750 ml.",
        3200,
        2900,
        420,
    ),
    accessory(
        "notebook-dune",
        "Dune Notebook",
        "Dot grid, lay-flat binding.",
        1600,
        1500,
        300,
    ),
];

const fn tee(handle: &'static str, title: &'static str, description: &'static str) -> Design {
    Design {
        category: "t-shirts",
        handle,
        title,
        description,
        option: ("size", SIZES),
        usd_minor: 2500,
        eur_minor: 2300,
        weight_grams: 180,
    }
}

const fn hoodie(handle: &'static str, title: &'static str, description: &'static str) -> Design {
    Design {
        category: "hoodies",
        handle,
        title,
        description,
        option: ("size", SIZES),
        usd_minor: 6500,
        eur_minor: 5900,
        weight_grams: 650,
    }
}

const fn mug(handle: &'static str, title: &'static str, description: &'static str) -> Design {
    Design {
        category: "mugs",
        handle,
        title,
        description,
        option: ("size", MUG_SIZES),
        usd_minor: 1800,
        eur_minor: 1600,
        weight_grams: 400,
    }
}

const fn poster(handle: &'static str, title: &'static str, description: &'static str) -> Design {
    Design {
        category: "posters",
        handle,
        title,
        description,
        option: ("size", POSTER_SIZES),
        usd_minor: 3000,
        eur_minor: 2700,
        weight_grams: 150,
    }
}

const fn accessory(
    handle: &'static str,
    title: &'static str,
    description: &'static str,
    usd_minor: i64,
    eur_minor: i64,
    weight_grams: u32,
) -> Design {
    Design {
        category: "accessories",
        handle,
        title,
        description,
        option: ("colour", COLOURS),
        usd_minor,
        eur_minor,
        weight_grams,
    }
}

/// Seeds the demo shop, creating only what is missing.
pub async fn run(districts: &Districts) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    seed_catalog(districts, &mut report).await?;
    seed_shipping_and_tax(districts, &mut report).await?;
    Ok(report)
}

async fn seed_catalog(districts: &Districts, report: &mut SeedReport) -> anyhow::Result<()> {
    let catalog = &districts.catalog;
    let mut categories = catalog.categories().await?;
    for (handle, name) in CATEGORIES {
        if categories.iter().all(|c| c.handle.as_str() != *handle) {
            let created = catalog
                .create_category(NewCategory {
                    handle: Handle::parse(handle)?,
                    name: Title::parse(name)?,
                })
                .await?;
            categories.push(created);
            report.categories_created += 1;
        }
    }
    for design in DESIGNS {
        let handle = Handle::parse(design.handle)?;
        if catalog.product_by_handle(&handle, true).await.is_ok() {
            continue;
        }
        let category = categories
            .iter()
            .find(|c| c.handle.as_str() == design.category)
            .ok_or_else(|| anyhow::anyhow!("seed category {} missing", design.category))?;
        catalog
            .create_product(NewProduct {
                handle,
                title: Title::parse(design.title)?,
                description: design.description.to_owned(),
                category_ids: vec![category.id],
                variants: variants_of(design)?,
            })
            .await?;
        report.products_created += 1;
    }
    Ok(())
}

fn variants_of(design: &Design) -> anyhow::Result<Vec<NewVariant>> {
    let (option_name, values) = design.option;
    let base = design.handle.to_uppercase();
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            // Larger sizes cost a little more and weigh a little more.
            let step = i64::try_from(i)?;
            let weight_step = u32::try_from(i)?;
            Ok(NewVariant {
                sku: Sku::parse(&format!("{base}-{value}"))?,
                title: Title::parse(&format!("{} / {value}", design.title))?,
                options: vec![OptionValue {
                    name: option_name.to_owned(),
                    value: (*value).to_owned(),
                }],
                weight_grams: design.weight_grams + weight_step * 20,
                prices: vec![
                    Money::new(design.usd_minor + step * 200, Currency::Usd),
                    Money::new(design.eur_minor + step * 200, Currency::Eur),
                ],
            })
        })
        .collect()
}

/// A demo shipping option: flat, or by weight tiers of (max grams, minor units).
struct Shipping {
    name: &'static str,
    countries: &'static [&'static str],
    currency: Currency,
    flat_minor: Option<i64>,
    tiers: &'static [(u32, i64)],
}

const SHIPPING: &[Shipping] = &[
    Shipping {
        name: "USPS Ground",
        countries: &["US"],
        currency: Currency::Usd,
        flat_minor: None,
        tiers: &[(500, 599), (2_000, 899), (10_000, 1_499)],
    },
    Shipping {
        name: "UPS 2nd Day Air",
        countries: &["US"],
        currency: Currency::Usd,
        flat_minor: Some(1_999),
        tiers: &[],
    },
    Shipping {
        name: "DHL Paket",
        countries: &["DE", "AT"],
        currency: Currency::Eur,
        flat_minor: None,
        tiers: &[(1_000, 490), (5_000, 690), (31_500, 1_090)],
    },
    Shipping {
        name: "Colissimo",
        countries: &["FR", "BE", "LU"],
        currency: Currency::Eur,
        flat_minor: Some(790),
        tiers: &[],
    },
    Shipping {
        name: "PostNL",
        countries: &["NL", "BE"],
        currency: Currency::Eur,
        flat_minor: Some(695),
        tiers: &[],
    },
];

/// Standard VAT or sales tax rates of the demo countries, in percent.
const TAX_RATES: &[(&str, &str)] = &[
    ("DE", "19"),
    ("AT", "20"),
    ("FR", "20"),
    ("BE", "21"),
    ("LU", "17"),
    ("NL", "21"),
    // A US state rate, for demonstration: the US has no national sales tax.
    ("US", "8.875"),
];

async fn seed_shipping_and_tax(
    districts: &Districts,
    report: &mut SeedReport,
) -> anyhow::Result<()> {
    let cart = &districts.cart;
    let existing = cart.shipping_options_all().await?;
    for option in SHIPPING {
        if existing.iter().any(|o| o.name() == option.name) {
            continue;
        }
        let countries = option
            .countries
            .iter()
            .map(|c| CountryCode::parse(c))
            .collect::<Result<Vec<_>, _>>()?;
        let rate = match option.flat_minor {
            Some(minor) => ShippingRate::Flat {
                amount: Money::new(minor, option.currency),
            },
            None => ShippingRate::WeightTiers(
                option
                    .tiers
                    .iter()
                    .map(|(max_weight_grams, minor)| WeightTier {
                        max_weight_grams: *max_weight_grams,
                        amount: Money::new(*minor, option.currency),
                    })
                    .collect(),
            ),
        };
        let new = NewShippingOption::parse(option.name, countries, option.currency, rate)?;
        cart.create_shipping_option(new).await?;
        report.shipping_options_created += 1;
    }
    let rates = cart.tax_rates().await?;
    for (country, percent) in TAX_RATES {
        let country = CountryCode::parse(country)?;
        let rate = Rate::parse_percent(percent)?;
        if rates.iter().any(|r| r.country == country && r.rate == rate) {
            continue;
        }
        cart.set_tax_rate(country, rate).await?;
        report.tax_rates_set += 1;
    }
    Ok(())
}
