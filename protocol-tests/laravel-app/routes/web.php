<?php

use Illuminate\Support\Facades\Route;

Route::get('/login', fn () => 'login page')->name('login');

// The tests fire a queued broadcast event through the app, as a controller would.
Route::get('/fire/{id}', function ($id) {
    event(new App\Events\OrderShipped((int) $id));

    return 'fired';
});
