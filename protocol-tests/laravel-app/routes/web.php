<?php

use Illuminate\Support\Facades\Route;

Route::get('/login', fn () => 'login page')->name('login');
