"""wxhook: the callback server for WeChat Official Accounts."""
