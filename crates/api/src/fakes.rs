//! Stand-ins for the district services in the api crate's own tests. They keep next to no
//! state: enough to drive a route through extraction, conversion and rendering, and to see what
//! a handler asked for. How the districts behave is tested against real databases in their own
//! crates and, through HTTP, in `server/tests/api`. The identity fake is in `fakes/identity.rs`;
//! inventory, payments and orders are in `fakes/commerce.rs`.

mod commerce;
mod idempotency;
mod identity;

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use kassa_cart::{
    Address, CartAccess, CartError, CartService, CartToken, NewShippingOption, PricedCart,
    ShippingOption, ShippingQuote, TaxRate,
};
use kassa_catalog::{
    CatalogError, CatalogService, Category, Handle, NewCategory, NewProduct, NewVariant, Offer,
    Product, ProductFilter, ProductPage, ProductPatch, Status, VariantPatch,
};
use kassa_kernel::ids::{
    CartId, CartLineId, CategoryId, CustomerId, ProductId, ShippingOptionId, VariantId,
};
use kassa_kernel::rounding::Rate;
use kassa_kernel::{CountryCode, Currency, Email, Money, MoneyError, Quantity, Sku, Timestamp};

use kassa_webhooks::{
    DeliverReport, Delivery, DeliveryCounts, DeliveryDetail, DeliveryFilter, DeliveryId, Endpoint,
    EndpointPatch, EndpointWithSecret, NewEndpoint, SecretRotation, SigningSecret, WebhookError,
    WebhookId, WebhookService,
};

use crate::state::{ApiConfig, AppState, Readiness, Services};

pub use commerce::{FakeInventory, FakeOrders, FakePayments};
pub use idempotency::UnusedIdempotency;
pub use identity::{FakeIdentity, CUSTOMER_TOKEN, OWNER_TOKEN, SUPPORT_TOKEN};

/// What the fakes give as "now": 2026-11-22T04:39:36.123Z.
pub fn now() -> Timestamp {
    Timestamp::from_millis(1_795_322_376_123)
}

pub struct AlwaysReady;

#[async_trait]
impl Readiness for AlwaysReady {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A state over `identity`, `catalog` and a [`FakeCart`].
pub fn state(
    config: ApiConfig,
    readiness: Arc<dyn Readiness>,
    identity: Arc<FakeIdentity>,
    catalog: Arc<FakeCatalog>,
) -> AppState {
    let orders = Arc::new(FakeOrders::default());
    state_with_orders(config, readiness, identity, catalog, orders)
}

/// [`state`] with the given orders fake, to script its checkout.
pub fn state_with_orders(
    config: ApiConfig,
    readiness: Arc<dyn Readiness>,
    identity: Arc<FakeIdentity>,
    catalog: Arc<FakeCatalog>,
    orders: Arc<FakeOrders>,
) -> AppState {
    let services = Services {
        identity,
        catalog,
        cart: Arc::new(FakeCart),
        idempotency: Arc::new(UnusedIdempotency),
        inventory: Arc::new(FakeInventory),
        payments: Arc::new(FakePayments),
        orders,
        webhooks: Arc::new(FakeWebhooks),
        notifications: Arc::new(EmptyMailbox),
        ops: Arc::new(NoGauges),
        sandbox: None,
        gateway_webhooks: None,
    };
    AppState::new(config, readiness, services)
}

/// [`plain_state`] with a real idempotency service.
pub fn plain_state_with_idempotency(
    config: ApiConfig,
    idempotency: Arc<dyn kassa_idempotency::IdempotencyService>,
) -> AppState {
    let services = Services {
        identity: Arc::new(FakeIdentity::default()),
        catalog: Arc::new(FakeCatalog::default()),
        cart: Arc::new(FakeCart),
        idempotency,
        inventory: Arc::new(FakeInventory),
        payments: Arc::new(FakePayments),
        orders: Arc::new(FakeOrders::default()),
        webhooks: Arc::new(FakeWebhooks),
        notifications: Arc::new(EmptyMailbox),
        ops: Arc::new(NoGauges),
        sandbox: None,
        gateway_webhooks: None,
    };
    AppState::new(config, Arc::new(AlwaysReady), services)
}

/// A state over empty fakes, always ready.
pub fn plain_state(config: ApiConfig) -> AppState {
    state(
        config,
        Arc::new(AlwaysReady),
        Arc::new(FakeIdentity::default()),
        Arc::new(FakeCatalog::default()),
    )
}

/// A catalog of at most one product. Writes other than `create_category` fail as if the
/// product or variant did not exist.
#[derive(Default)]
pub struct FakeCatalog {
    pub product: Option<Product>,
    /// The filter of the last `list_products` call.
    pub last_filter: Mutex<Option<ProductFilter>>,
}

impl FakeCatalog {
    pub fn with_product(product: Product) -> FakeCatalog {
        FakeCatalog {
            product: Some(product),
            last_filter: Mutex::default(),
        }
    }

    pub fn last_filter(&self) -> Option<ProductFilter> {
        self.last_filter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn visible(&self, include_archived: bool) -> Option<&Product> {
        self.product
            .as_ref()
            .filter(|p| include_archived || p.status == Status::Active)
    }
}

/// An active product with no variants, handle `tee-aurora`.
pub fn product() -> Product {
    Product {
        id: ProductId::new(),
        handle: Handle::parse("tee-aurora").unwrap_or_else(|e| panic!("{e}")),
        title: "Aurora T-shirt".to_owned(),
        description: String::new(),
        status: Status::Active,
        category_ids: Vec::new(),
        variants: Vec::new(),
        created_at: now(),
        updated_at: now(),
    }
}

#[async_trait]
impl CatalogService for FakeCatalog {
    async fn create_category(&self, input: NewCategory) -> Result<Category, CatalogError> {
        Ok(Category {
            id: CategoryId::new(),
            handle: input.handle,
            name: input.name.as_str().to_owned(),
        })
    }

    async fn categories(&self) -> Result<Vec<Category>, CatalogError> {
        Ok(Vec::new())
    }

    async fn create_product(&self, input: NewProduct) -> Result<Product, CatalogError> {
        Err(CatalogError::HandleTaken(input.handle.to_string()))
    }

    async fn update_product(
        &self,
        id: ProductId,
        _: ProductPatch,
    ) -> Result<Product, CatalogError> {
        Err(CatalogError::ProductNotFound(id))
    }

    async fn archive_product(&self, id: ProductId) -> Result<Product, CatalogError> {
        Err(CatalogError::ProductNotFound(id))
    }

    async fn add_variant(&self, id: ProductId, _: NewVariant) -> Result<Product, CatalogError> {
        Err(CatalogError::ProductNotFound(id))
    }

    async fn update_variant(
        &self,
        id: VariantId,
        _: VariantPatch,
    ) -> Result<Product, CatalogError> {
        Err(CatalogError::VariantNotFound(id))
    }

    async fn archive_variant(&self, id: VariantId) -> Result<Product, CatalogError> {
        Err(CatalogError::VariantNotFound(id))
    }

    async fn set_price(&self, id: VariantId, _: Money) -> Result<Product, CatalogError> {
        Err(CatalogError::VariantNotFound(id))
    }

    async fn remove_price(&self, id: VariantId, _: Currency) -> Result<Product, CatalogError> {
        Err(CatalogError::VariantNotFound(id))
    }

    async fn product(
        &self,
        id: ProductId,
        include_archived: bool,
    ) -> Result<Product, CatalogError> {
        self.visible(include_archived)
            .filter(|p| p.id == id)
            .cloned()
            .ok_or(CatalogError::ProductNotFound(id))
    }

    async fn product_by_handle(
        &self,
        handle: &Handle,
        include_archived: bool,
    ) -> Result<Product, CatalogError> {
        self.visible(include_archived)
            .filter(|p| p.handle == *handle)
            .cloned()
            .ok_or_else(|| CatalogError::ProductHandleNotFound(handle.to_string()))
    }

    async fn list_products(&self, filter: ProductFilter) -> Result<ProductPage, CatalogError> {
        let items = self
            .visible(filter.include_archived)
            .cloned()
            .into_iter()
            .collect();
        *self
            .last_filter
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(filter);
        Ok(ProductPage {
            items,
            next_cursor: None,
        })
    }

    async fn offers(&self, _: &[Sku], _: Currency) -> Result<Vec<Offer>, CatalogError> {
        Ok(Vec::new())
    }

    async fn events(
        &self,
        _: Option<kassa_events::EventId>,
        _: u32,
    ) -> Result<Vec<kassa_events::Event>, CatalogError> {
        Ok(Vec::new())
    }
}

/// A cart service that knows no carts (every shopper call is `cart_not_found`), keeps no
/// shipping options or tax rates, and answers staff writes as if they succeeded.
pub struct FakeCart;

#[async_trait]
impl CartService for FakeCart {
    /// A [`CartToken`] can only be issued by the cart crate, so this fake cannot create carts.
    async fn create_cart(
        &self,
        _: Currency,
        _: Option<CustomerId>,
    ) -> Result<(PricedCart, CartToken), CartError> {
        Err(CartError::Money(MoneyError::CurrencyMismatch {
            left: Currency::Eur,
            right: Currency::Usd,
        }))
    }

    async fn cart(&self, id: CartId, _: &CartAccess) -> Result<PricedCart, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn customer_cart(&self, _: CustomerId) -> Result<Option<PricedCart>, CartError> {
        Ok(None)
    }

    async fn merge_on_sign_in(
        &self,
        _: CustomerId,
        _: Option<(CartId, String)>,
    ) -> Result<Option<PricedCart>, CartError> {
        Ok(None)
    }

    async fn add_line(
        &self,
        id: CartId,
        _: &CartAccess,
        _: Sku,
        _: Quantity,
    ) -> Result<PricedCart, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn update_line(
        &self,
        id: CartId,
        _: &CartAccess,
        _: CartLineId,
        _: Quantity,
    ) -> Result<PricedCart, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn remove_line(
        &self,
        id: CartId,
        _: &CartAccess,
        _: CartLineId,
    ) -> Result<PricedCart, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn set_email(
        &self,
        id: CartId,
        _: &CartAccess,
        _: Email,
    ) -> Result<PricedCart, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn set_shipping_address(
        &self,
        id: CartId,
        _: &CartAccess,
        _: Address,
    ) -> Result<PricedCart, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn shipping_options(
        &self,
        id: CartId,
        _: &CartAccess,
    ) -> Result<Vec<ShippingQuote>, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn choose_shipping_option(
        &self,
        id: CartId,
        _: &CartAccess,
        _: ShippingOptionId,
    ) -> Result<PricedCart, CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn complete_checkout(&self, id: CartId, _: &str) -> Result<(), CartError> {
        Err(CartError::CartNotFound(id))
    }

    async fn create_shipping_option(
        &self,
        option: NewShippingOption,
    ) -> Result<ShippingOption, CartError> {
        Ok(ShippingOption::new(ShippingOptionId::new(), option))
    }

    async fn shipping_options_all(&self) -> Result<Vec<ShippingOption>, CartError> {
        Ok(Vec::new())
    }

    async fn delete_shipping_option(&self, _: ShippingOptionId) -> Result<(), CartError> {
        Ok(())
    }

    async fn set_tax_rate(&self, country: CountryCode, rate: Rate) -> Result<TaxRate, CartError> {
        Ok(TaxRate {
            country,
            rate,
            updated_at: now(),
        })
    }

    async fn tax_rates(&self) -> Result<Vec<TaxRate>, CartError> {
        Ok(Vec::new())
    }

    async fn delete_tax_rate(&self, country: CountryCode) -> Result<(), CartError> {
        Err(CartError::TaxRateNotFound(country))
    }
}

/// Webhooks with no endpoints: registering answers the endpoint as given (with a fresh secret)
/// but keeps nothing, so every read by id is not found.
pub struct FakeWebhooks;

#[async_trait]
impl WebhookService for FakeWebhooks {
    async fn create_endpoint(
        &self,
        input: NewEndpoint,
    ) -> Result<EndpointWithSecret, WebhookError> {
        let endpoint = Endpoint {
            id: WebhookId::new(),
            url: input.url,
            event_types: input.event_types,
            description: input.description,
            enabled: true,
            previous_secret_expires_at: None,
            created_at: now(),
            updated_at: now(),
        };
        let secret = SigningSecret::generate().map_err(WebhookError::Randomness)?;
        Ok(EndpointWithSecret { endpoint, secret })
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(Vec::new())
    }

    async fn endpoint(&self, id: WebhookId) -> Result<Endpoint, WebhookError> {
        Err(WebhookError::EndpointNotFound(id))
    }

    async fn update_endpoint(
        &self,
        id: WebhookId,
        _: EndpointPatch,
    ) -> Result<Endpoint, WebhookError> {
        Err(WebhookError::EndpointNotFound(id))
    }

    async fn delete_endpoint(&self, id: WebhookId) -> Result<(), WebhookError> {
        Err(WebhookError::EndpointNotFound(id))
    }

    async fn rotate_secret(
        &self,
        id: WebhookId,
        _: SecretRotation,
    ) -> Result<EndpointWithSecret, WebhookError> {
        Err(WebhookError::EndpointNotFound(id))
    }

    async fn deliveries(
        &self,
        endpoint: WebhookId,
        _: DeliveryFilter,
    ) -> Result<Vec<Delivery>, WebhookError> {
        Err(WebhookError::EndpointNotFound(endpoint))
    }

    async fn delivery(&self, id: DeliveryId) -> Result<DeliveryDetail, WebhookError> {
        Err(WebhookError::DeliveryNotFound(id))
    }

    async fn replay(&self, id: DeliveryId) -> Result<Delivery, WebhookError> {
        Err(WebhookError::DeliveryNotFound(id))
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, WebhookError> {
        Ok(DeliveryCounts::default())
    }

    async fn deliver_due(&self, _: Timestamp, _: u32) -> Result<DeliverReport, WebhookError> {
        Ok(DeliverReport::default())
    }
}

/// A mailbox with no messages.
pub struct EmptyMailbox;

#[async_trait]
impl kassa_notify::NotificationService for EmptyMailbox {
    async fn mailbox(
        &self,
        _after: Option<kassa_notify::MessageId>,
        _limit: u32,
    ) -> Result<Vec<kassa_notify::Message>, kassa_notify::NotifyError> {
        Ok(Vec::new())
    }

    async fn message(
        &self,
        _id: kassa_notify::MessageId,
    ) -> Result<Option<kassa_notify::Message>, kassa_notify::NotifyError> {
        Ok(None)
    }

    async fn counts(&self) -> Result<kassa_notify::StatusCounts, kassa_notify::NotifyError> {
        Ok(kassa_notify::StatusCounts::default())
    }
}

/// No district gauges: `/metrics` shows only the HTTP families.
pub struct NoGauges;

#[async_trait]
impl crate::metrics::OpsGauges for NoGauges {
    async fn gauges(&self) -> Vec<crate::metrics::GaugeFamily> {
        Vec::new()
    }
}
