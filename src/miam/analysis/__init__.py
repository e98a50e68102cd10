"""What is made of trained models: late fusion, contributions (Shapley), the deployment score,
claims, tables and figures."""
