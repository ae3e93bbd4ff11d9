<?php
require '/usr/share/php/Illuminate/autoload.php';
spl_autoload_register(function ($class) {
    $base = dirname(__DIR__);
    if (str_starts_with($class, 'App\\')) {
        $file = $base.'/app/'.str_replace('\\', '/', substr($class, 4)).'.php';
    } elseif ($class === 'Pusher\\Pusher') {
        $file = $base.'/app/Pusher.php';
    } else {
        return;
    }
    if (is_file($file)) require $file;
});
$app = require __DIR__.'/../bootstrap/app.php';
$kernel = $app->make(Illuminate\Contracts\Http\Kernel::class);
$response = $kernel->handle($request = Illuminate\Http\Request::capture())->send();
$kernel->terminate($request, $response);
