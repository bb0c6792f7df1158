DROP DATABASE analytics_old;
