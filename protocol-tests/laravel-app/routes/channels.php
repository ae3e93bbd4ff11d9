<?php

use Illuminate\Support\Facades\Broadcast;

Broadcast::channel('orders.{id}', fn ($user, $id) => (string) $user->id === (string) $id);
