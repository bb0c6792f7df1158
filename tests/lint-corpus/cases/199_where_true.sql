DELETE FROM notifications WHERE true;
