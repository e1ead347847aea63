// Filled in by the backend-service work.
